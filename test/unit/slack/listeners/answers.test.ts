import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../../src/logging/logger.ts';
import { refuse } from '../../../../src/services/refusal.ts';
import { logRefusal, runUseCase } from '../../../../src/slack/listeners/answers.ts';
import type { ListenerContext } from '../../../../src/slack/listeners/listener-context.ts';

/** A listener context whose log lines the test reads; nothing else is used. */
function listening(): { ctx: ListenerContext; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({ level: 'info', secrets: ['xoxb-secret-token'], destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) } });
  return { ctx: { logger } as ListenerContext, lines };
}

describe('logRefusal', () => {
  it('logs the code and the detail, never the message shown to the person', () => {
    const { ctx, lines } = listening();
    const { refusal } = refuse('not_pending', 'This request is already approved.', { detail: { state: 'approved' } });
    logRefusal(ctx, refusal, { action: 'latch_approve', accessRequestId: 'r1', user: 'U1' });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'info', msg: 'refused', action: 'latch_approve', accessRequestId: 'r1', user: 'U1', code: 'not_pending', detail: { state: 'approved' } });
    expect(JSON.stringify(lines[0])).not.toContain('already approved');
  });
});

describe('runUseCase', () => {
  it('gives back what the use case answered, refusals included, and tells nobody', async () => {
    const { ctx, lines } = listening();
    const told: string[] = [];
    const refused = refuse('own_request', 'You cannot decide your own request.');
    expect(await runUseCase(ctx, { action: 'latch_approve', what: 'record your approval' }, async () => refused, async (text) => void told.push(text))).toBe(refused);
    expect(told).toEqual([]);
    expect(lines).toEqual([]);
  });

  it('on a throw, tells the person it failed and changed nothing under a reference the log has too, with the error only in the log', async () => {
    const { ctx, lines } = listening();
    const told: string[] = [];
    const failure = new Error('connect ECONNREFUSED with xoxb-secret-token');
    const result = await runUseCase(
      ctx,
      { action: 'latch_cancel', accessRequestId: 'r2', user: 'U2', what: 'cancel this request' },
      () => Promise.reject(failure),
      async (text) => void told.push(text),
    );
    expect(result).toBeUndefined();
    expect(told).toHaveLength(1);
    const reference = /reference: ([0-9a-f]{8})\.$/.exec(told[0]!)?.[1];
    expect(told[0]).toBe(
      `Latch could not cancel this request because something went wrong on its side. Nothing was changed. Try again in a minute; if it keeps failing, give whoever runs Latch this reference: ${reference}.`,
    );
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'error', action: 'latch_cancel', accessRequestId: 'r2', user: 'U2', reference, err: { message: expect.stringContaining('ECONNREFUSED') } });
    expect(lines[0]).not.toHaveProperty('what');
    expect(JSON.stringify(lines[0])).not.toContain('xoxb-secret-token');
  });

  it('uses a new reference for each failure', async () => {
    const { ctx } = listening();
    const told: string[] = [];
    for (let i = 0; i < 2; i++) await runUseCase(ctx, { action: 'a', what: 'do that' }, () => Promise.reject(new Error('down')), async (text) => void told.push(text));
    expect(new Set(told).size).toBe(2);
  });
});
