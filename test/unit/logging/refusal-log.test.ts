import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { withLogContext } from '../../../src/logging/log-context.ts';
import { createLogger } from '../../../src/logging/logger.ts';
import { REFUSAL_LOG_WINDOW_MS, RefusalLog } from '../../../src/logging/refusal-log.ts';

// The clock and the timers are vitest's fakes: the test moves time, and a window's end is a timer.
beforeEach(() => void vi.useFakeTimers({ now: new Date('2026-03-02T10:00:00Z') }));
afterEach(() => void vi.useRealTimers());

function refusalLog() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({ level: 'info', destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) } });
  return { log: new RefusalLog(logger), lines, messages: () => lines.map((line) => line.msg) };
}

describe('RefusalLog', () => {
  it('logs the first refusal of a kind as it comes, counts the rest, and says how many when the minute is up', () => {
    const { log, lines, messages } = refusalLog();
    for (let i = 0; i < 500; i++) log.refused('unsigned', { reason: 'missing', i }, 'refused an unverified request');
    expect(lines).toEqual([expect.objectContaining({ level: 'warn', msg: 'refused an unverified request', reason: 'missing', i: 0 })]);
    vi.advanceTimersByTime(REFUSAL_LOG_WINDOW_MS - 1);
    expect(lines).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(lines[1]).toMatchObject({ level: 'warn', refusal: 'unsigned', more: 499, seconds: 60, msg: '499 more like this in the last 60 s: refused an unverified request' });
    // The next one opens a new window, logged in full again.
    log.refused('unsigned', { reason: 'missing', i: 500 }, 'refused an unverified request');
    expect(lines[2]).toMatchObject({ msg: 'refused an unverified request', i: 500 });
    vi.advanceTimersByTime(REFUSAL_LOG_WINDOW_MS);
    expect(messages()).toHaveLength(3);
  });

  it('keeps kinds apart: a flood of one does not hide the first of another', () => {
    const { log, messages } = refusalLog();
    for (let i = 0; i < 50; i++) log.refused('unsigned', {}, 'unsigned');
    log.refused('forged', {}, 'signature mismatch');
    log.refused('forged', {}, 'signature mismatch');
    vi.advanceTimersByTime(REFUSAL_LOG_WINDOW_MS);
    expect(messages()).toEqual(['unsigned', 'signature mismatch', '49 more like this in the last 60 s: unsigned', '1 more like this in the last 60 s: signature mismatch']);
  });

  it('writes no summary for a lone refusal, and logs at the level it was given', () => {
    const { log, lines } = refusalLog();
    log.refused('http other 404', { status: 404 }, 'http request', 'info');
    vi.advanceTimersByTime(10 * REFUSAL_LOG_WINDOW_MS);
    expect(lines).toEqual([expect.objectContaining({ level: 'info', msg: 'http request', status: 404 })]);
  });

  it('says what every log counted when flushed at shutdown, with the seconds that passed', () => {
    const [mcp, slack] = [refusalLog(), refusalLog()];
    mcp.log.refused('origin', {}, 'MCP call refused');
    slack.log.refused('unsigned', {}, 'unsigned');
    vi.advanceTimersByTime(12_000);
    mcp.log.refused('origin', {}, 'MCP call refused');
    slack.log.refused('unsigned', {}, 'unsigned');
    slack.log.refused('unsigned', {}, 'unsigned');
    RefusalLog.flushAll();
    expect(mcp.messages()).toEqual(['MCP call refused', '1 more like this in the last 12 s: MCP call refused']);
    expect(slack.messages()).toEqual(['unsigned', '2 more like this in the last 12 s: unsigned']);
    vi.advanceTimersByTime(REFUSAL_LOG_WINDOW_MS);
    expect(mcp.messages()).toHaveLength(2);
    expect(slack.messages()).toHaveLength(2);
  });

  it("gives the summary no request's id: it speaks for many", () => {
    const { log, lines } = refusalLog();
    withLogContext({ requestId: 'req-first' }, () => log.refused('unsigned', {}, 'unsigned'));
    withLogContext({ requestId: 'req-second' }, () => log.refused('unsigned', {}, 'unsigned'));
    vi.advanceTimersByTime(REFUSAL_LOG_WINDOW_MS);
    expect(lines[0]).toMatchObject({ requestId: 'req-first' });
    expect(lines[1]).toMatchObject({ more: 1 });
    expect(lines[1]).not.toHaveProperty('requestId');
  });
});
