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
  return { clock, lines, failed: new FailedTokenChecks(logger, new PrincipalRateLimiter(30, 30, now), now) };
}

describe('failed token checks per address', () => {
  it('lets 30 bad tokens be checked, then refuses the address for as long as the bucket takes to give one more', () => {
    const { clock, failed } = checks();
    for (let n = 0; n < 30; n++) expect(failed.admit('203.0.113.7', '/api/v1')).toBeNull();
    expect(failed.admit('203.0.113.7', '/api/v1')).toBe(2);
    // Another address is its own caller; an IPv6 /64 is one.
    expect(failed.admit('198.51.100.1', '/mcp')).toBeNull();
    for (let n = 0; n < 30; n++) failed.admit(`2001:db8:1:1::${n.toString(16)}`, '/mcp');
    expect(failed.admit('2001:db8:1:1:ffff::1', '/mcp')).not.toBeNull();
    clock.ms += 2_000;
    expect(failed.admit('203.0.113.7', '/api/v1')).toBeNull();
    expect(failed.admit('203.0.113.7', '/api/v1')).not.toBeNull();
  });

  it('never counts a token that passed: any number of good calls leaves all 30 checks to bad ones', () => {
    const { failed } = checks();
    for (let n = 0; n < 500; n++) {
      expect(failed.admit('203.0.113.7', '/api/v1')).toBeNull();
      failed.passed('203.0.113.7');
    }
    for (let n = 0; n < 30; n++) expect(failed.admit('203.0.113.7', '/api/v1')).toBeNull();
    expect(failed.admit('203.0.113.7', '/api/v1')).not.toBeNull();
  });

  it('checks no more tokens at once than the bucket holds, however many calls arrive together', () => {
    const { failed } = checks();
    // 40 calls in flight, none answered yet: 30 are checked, 10 are refused without a look.
    const admitted = Array.from({ length: 40 }, () => failed.admit('203.0.113.7', '/api/v1')).filter((wait) => wait === null);
    expect(admitted).toHaveLength(30);
  });

  it('warns once a minute while it refuses, with how many it refused, not once a refusal', () => {
    const { clock, lines, failed } = checks();
    for (let n = 0; n < 30 + 500; n++) failed.admit('203.0.113.7', '/api/v1');
    const warnings = () => lines.filter((line) => String(line.msg).startsWith('API calls refused unchecked'));
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]).toMatchObject({ level: 'warn', refused: 1, lastIp: '203.0.113.7', path: '/api/v1' });
    clock.ms += REFUSED_TOKEN_CHECKS_WARNING_INTERVAL_MS;
    // A minute refills the bucket: 30 more checks, then the next refusal warns, counting the 499 since the first warning.
    for (let n = 0; n < 30; n++) expect(failed.admit('203.0.113.7', '/mcp')).toBeNull();
    expect(warnings()).toHaveLength(1);
    failed.admit('203.0.113.7', '/mcp');
    expect(warnings()).toHaveLength(2);
    expect(warnings()[1]).toMatchObject({ refused: 499 + 1, path: '/mcp' });
  });
});
