import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/logging/logger.ts';
import { finishingPart, GracefulShutdown } from '../../../src/runtime/graceful-shutdown.ts';
import { InFlightWork } from '../../../src/runtime/in-flight-work.ts';

function recordingLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({ level: 'info', destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) } });
  return { logger, lines, messages: () => lines.map((line) => String(line.msg)) };
}

/** A promise and the function that settles it, for work the test finishes by hand. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

describe('GracefulShutdown', () => {
  it('stops every part taking work, waits for the work in hand, then closes the last part first', async () => {
    const { logger } = recordingLogger();
    const steps: string[] = [];
    const job = gate();
    const shutdown = new GracefulShutdown({ logger, timeoutMs: 5_000 });
    shutdown.add({ name: 'database', close: async () => void steps.push('close database') });
    shutdown.add({
      name: 'workers',
      stopTaking: () => void steps.push('workers stop taking'),
      finished: async () => {
        await job.opened;
        steps.push('workers finished');
      },
      close: async () => void steps.push('close workers'),
    });
    shutdown.add({ name: 'server', stopTaking: () => void steps.push('server stops taking'), close: async () => void steps.push('close server') });

    const outcome = shutdown.run('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(steps).toEqual(['workers stop taking', 'server stops taking']);
    job.open();
    expect(await outcome).toBe(true);
    expect(steps).toEqual(['workers stop taking', 'server stops taking', 'workers finished', 'close server', 'close workers', 'close database']);
  });

  it('says what it waits for, and past the bound lets go of it, closes everything and reports the work left', async () => {
    const { logger, lines, messages } = recordingLogger();
    const steps: string[] = [];
    const shutdown = new GracefulShutdown({ logger, timeoutMs: 300, progressEveryMs: 100 });
    shutdown.add({ name: 'database', close: async () => void steps.push('close database') });
    shutdown.add({
      name: 'workers',
      finished: () => new Promise(() => {}),
      busyWith: () => '1 grant job',
      abandon: async () => void steps.push('abandon workers'),
    });
    const startedAt = Date.now();
    expect(await shutdown.run('SIGTERM')).toBe(false);
    expect(Date.now() - startedAt).toBeLessThan(2_000);
    expect(steps).toEqual(['abandon workers', 'close database']);
    expect(lines.find((line) => String(line.msg).startsWith('shutting down'))).toMatchObject({ waitingFor: ['1 grant job'] });
    expect(messages()).toContain('shutdown is waiting for 1 grant job');
    expect(messages()).toContain('shutdown bound of 0.3 s reached: leaving 1 grant job to be retried');
    expect(messages().at(-1)).toBe('shutdown complete; some work was left to be retried');
  });

  it('does not let a connection that never closes hold up the others', async () => {
    const { logger } = recordingLogger();
    const closed: string[] = [];
    const shutdown = new GracefulShutdown({ logger, timeoutMs: 1_000, closeTimeoutMs: 200 });
    shutdown.add({ name: 'database', close: async () => void closed.push('database') });
    shutdown.add({ name: 'stuck', close: () => new Promise(() => {}) });
    expect(await shutdown.run('SIGINT')).toBe(true);
    expect(closed).toEqual(['database']);
  });

  it('runs once however often it is asked', async () => {
    const { logger } = recordingLogger();
    let closes = 0;
    const shutdown = new GracefulShutdown({ logger, timeoutMs: 1_000 });
    shutdown.add({ name: 'database', close: async () => void (closes += 1) });
    await Promise.all([shutdown.run('SIGTERM'), shutdown.run('SIGINT')]);
    expect(closes).toBe(1);
  });

  it('waits for work counted by InFlightWork, started before or while it waits', async () => {
    const { logger } = recordingLogger();
    const work = new InFlightWork();
    const first = gate();
    const second = gate();
    void work.track(() => first.opened);
    let finished = false;
    const shutdown = new GracefulShutdown({ logger, timeoutMs: 5_000 });
    shutdown.add(finishingPart('listeners', { finish: () => work.idle(), busyWith: () => (work.count > 0 ? `${work.count} Slack handlers` : null) }));
    const outcome = shutdown.run('SIGTERM').then((value) => {
      finished = true;
      return value;
    });
    void work.track(() => second.opened);
    first.open();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(finished).toBe(false);
    second.open();
    expect(await outcome).toBe(true);
    expect(work.count).toBe(0);
  });
});
