import { REVOCATION_ALERT_AFTER_ATTEMPTS } from '../services/revoke-grant.ts';

/**
 * When to retry a failed revocation. A revocation is never given up: after a few quick retries
 * (a blip: a restart, a timeout) it falls back to a slow, steady schedule, so a target that is
 * down for hours is retried every few minutes without hammering it. A permanent failure (bad
 * credentials, a role that vanished) skips the quick retries: someone has to fix something first.
 */
export interface RevocationBackoff {
  /** Quick retries before the slow schedule; also when the security channel is alerted. */
  quickAttempts: number;
  /** First quick retry delay; it doubles each time. */
  quickBaseMs: number;
  /** First slow retry delay; it doubles each time up to `slowMaxMs`. */
  slowBaseMs: number;
  slowMaxMs: number;
}

export const DEFAULT_REVOCATION_BACKOFF: RevocationBackoff = {
  // The security channel hears of it at the same point (revokeGrant).
  quickAttempts: REVOCATION_ALERT_AFTER_ATTEMPTS,
  quickBaseMs: 1_000,
  slowBaseMs: 30_000,
  slowMaxMs: 5 * 60_000,
};

/** Delay before the retry that follows `attemptsMade` failures (1 after the first failure). */
export function revocationRetryDelayMs(attemptsMade: number, permanent: boolean, backoff: RevocationBackoff = DEFAULT_REVOCATION_BACKOFF): number {
  const failures = Math.max(1, attemptsMade);
  if (!permanent && failures < backoff.quickAttempts) return backoff.quickBaseMs * 2 ** (failures - 1);
  const slowStep = permanent ? Math.max(0, failures - 1) : failures - backoff.quickAttempts;
  return Math.min(backoff.slowMaxMs, backoff.slowBaseMs * 2 ** Math.min(slowStep, 30));
}
