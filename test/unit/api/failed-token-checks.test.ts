import { describe, expect, it } from 'vitest';
import { FailedTokenChecks, REFUSED_TOKEN_CHECKS_WARNING_INTERVAL_MS } from '../../../src/api/failed-token-checks.ts';
import { PrincipalRateLimiter } from '../../../src/api/rate-limiter.ts';
import { createLogger } from '../../../src/logging/logger.ts';

/** Failed token checks per address, on a clock the test moves: 30 at once, then one every 2 s. */
function checks() {
  const clock = { ms: 1_000_000 };
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({ level: 'info', destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) } });
  const now = () => clock.ms;
  const limit = new FailedTokenChecks(logger, new PrincipalRateLimiter(30, 30, now), now);
  let checked = 0;
  /** A token from `ip` checked as `outcome`: what the limit answered, and whether the check ran. */
  const token = async (ip: string, outcome: 'good' | 'bad' | 'throws', path = '/api/v1') => {
    const before = checked;
    const answer = await limit
      .check(
        ip,
        path,
        async () => {
          checked++;
          if (outcome === 'throws') throw new Error('database down');
          return { ok: outcome === 'good' };
        },
        (result) => !result.ok,
      )
      .catch(() => ({ ok: true as const, result: 'threw' }));
    return { ...answer, ran: checked > before };
  };
  return { clock, lines, limit, token };
}

describe('failed token checks per address', () => {
  it('checks 30 bad tokens from an address, then refuses it unchecked for as long as the bucket takes to give one more', async () => {
    const { clock, token } = checks();
    for (let n = 0; n < 30; n++) expect(await token('203.0.113.7', 'bad')).toMatchObject({ ok: true, ran: true });
    expect(await token('203.0.113.7', 'bad')).toEqual({ ok: false, waitSeconds: 2, ran: false });
    expect(await token('203.0.113.7', 'good')).toEqual({ ok: false, waitSeconds: 2, ran: false });
    // Another address is its own caller; an IPv6 /64 is one.
    expect(await token('198.51.100.1', 'bad', '/mcp')).toMatchObject({ ok: true });
    for (let n = 0; n < 30; n++) await token(`2001:db8:1:1::${n.toString(16)}`, 'bad', '/mcp');
    expect(await token('2001:db8:1:1:ffff::1', 'bad', '/mcp')).toMatchObject({ ok: false });
    clock.ms += 2_000;
    expect(await token('203.0.113.7', 'bad')).toMatchObject({ ok: true, ran: true });
    expect(await token('203.0.113.7', 'bad')).toMatchObject({ ok: false, ran: false });
  });

  it('never counts a good token, nor a check that threw: any number of them leaves all 30 checks to bad ones', async () => {
    const { token } = checks();
    for (let n = 0; n < 200; n++) expect(await token('203.0.113.7', n % 2 ? 'good' : 'throws')).toMatchObject({ ok: true, ran: true });
    for (let n = 0; n < 30; n++) expect(await token('203.0.113.7', 'bad')).toMatchObject({ ok: true, ran: true });
    expect(await token('203.0.113.7', 'bad')).toMatchObject({ ok: false });
  });

  it('checks no more tokens at once than the bucket holds, however many calls arrive together', async () => {
    const { token } = checks();
    // 40 calls at once, none answered before the others arrive: 30 are checked, 10 refused without a look.
    const answers = await Promise.all(Array.from({ length: 40 }, () => token('203.0.113.7', 'good')));
    expect(answers.filter((answer) => answer.ran)).toHaveLength(30);
  });

  it('warns once a minute while it refuses, with how many it refused, not once a refusal', async () => {
    const { clock, lines, token } = checks();
    for (let n = 0; n < 30 + 500; n++) await token('203.0.113.7', 'bad');
    const warnings = () => lines.filter((line) => String(line.msg).startsWith('API calls refused unchecked'));
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]).toMatchObject({ level: 'warn', refused: 1, lastIp: '203.0.113.7', path: '/api/v1' });
    clock.ms += REFUSED_TOKEN_CHECKS_WARNING_INTERVAL_MS;
    // A minute refills the bucket: 30 more checks, then the next refusal warns, counting the 499 since the first warning.
    for (let n = 0; n < 30; n++) expect(await token('203.0.113.7', 'bad', '/mcp')).toMatchObject({ ok: true });
    expect(warnings()).toHaveLength(1);
    await token('203.0.113.7', 'bad', '/mcp');
    expect(warnings()).toHaveLength(2);
    expect(warnings()[1]).toMatchObject({ refused: 499 + 1, path: '/mcp' });
  });
});
