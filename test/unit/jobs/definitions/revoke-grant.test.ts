import { describe, expect, it } from 'vitest';
import { revocationRetryDelayMs } from '../../../../src/jobs/definitions/revoke-grant.ts';
import { DEFAULT_REVOCATION_BACKOFF } from '../../../../src/jobs/job-settings.ts';

describe('revocationRetryDelayMs', () => {
  it('retries quickly a few times, then settles on a slow schedule that never stops', () => {
    const delays = Array.from({ length: 12 }, (_, index) => revocationRetryDelayMs(index + 1, false));
    expect(delays).toEqual([1_000, 2_000, 4_000, 8_000, 30_000, 60_000, 120_000, 240_000, 300_000, 300_000, 300_000, 300_000]);
    expect(revocationRetryDelayMs(999_999, false)).toBe(DEFAULT_REVOCATION_BACKOFF.slowMaxMs);
  });

  it('skips the quick retries after a permanent failure: someone has to fix something first', () => {
    expect(revocationRetryDelayMs(1, true)).toBe(30_000);
    expect(revocationRetryDelayMs(2, true)).toBe(60_000);
  });
});
