import { REVOCATION_ALERT_AFTER_ATTEMPTS } from '../services/revoke-grant.ts';

/**
 * What may be tuned about the jobs without touching a definition: how many run at once, how
 * failures are retried, how often the sweeps run. Latch's defaults in production; tests shorten them.
 */
export interface JobSettings {
  /** Grant jobs (and Slack notices) run at once in this process; the access lock pool is sized from it. */
  concurrency: number;
  /**
   * Revoke jobs run at once in this process (LATCH_REVOKE_CONCURRENCY). Apart from `concurrency`
   * because revocations a second are these slots divided by a revocation's time in its slot, which
   * grows with the database's distance; the access lock pool and the database pool grow with it.
   */
  revokeConcurrency: number;
  grantRetry: GrantRetryPolicy;
  revocationBackoff: RevocationBackoff;
  /** Expiry, re-announcing and reminders. */
  sweepEveryMs: number;
  reconcileEveryMs: number;
  /** The standing-access scan asks every target, so it runs less often. */
  scanEveryMs: number;
  /**
   * How often single-use logins' sessions are looked at: a session is seen within this long, and
   * its end too (a session shorter than this may go unseen: see the postgres provider's README).
   */
  singleUseCheckEveryMs: number;
  /**
   * How often access approved by an on-call rule is checked against PagerDuty or Opsgenie: someone
   * who went off call (or whose incident was resolved) keeps it at most this long after.
   */
  onCallCheckEveryMs: number;
  /**
   * How often `latch login` rows nothing can use any more are deleted (a day after they lapsed):
   * each run that finds some appends an audit event, so not every sweep interval.
   */
  loginSweepEveryMs: number;
  /** How often each process checks the schedules in Redis (lost ones, a reloaded policy's digests). */
  scheduleCheckEveryMs: number;
}

export interface GrantRetryPolicy {
  /** Attempts before a grant that keeps failing transiently fails the request. */
  attempts: number;
  /** First retry delay; it doubles each time. */
  baseDelayMs: number;
}

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

/** 2 s, 4 s, … 256 s: about eight and a half minutes of trying before the requester is told. */
export const DEFAULT_GRANT_RETRY: GrantRetryPolicy = { attempts: 9, baseDelayMs: 2_000 };

export const DEFAULT_REVOCATION_BACKOFF: RevocationBackoff = {
  // The security channel hears of it at the same point (revokeGrant).
  quickAttempts: REVOCATION_ALERT_AFTER_ATTEMPTS,
  quickBaseMs: 1_000,
  slowBaseMs: 30_000,
  slowMaxMs: 5 * 60_000,
};

export const DEFAULT_JOB_SETTINGS: JobSettings = {
  concurrency: 10,
  revokeConcurrency: 10,
  grantRetry: DEFAULT_GRANT_RETRY,
  revocationBackoff: DEFAULT_REVOCATION_BACKOFF,
  sweepEveryMs: 30_000,
  reconcileEveryMs: 60_000,
  scanEveryMs: 10 * 60_000,
  singleUseCheckEveryMs: 5_000,
  onCallCheckEveryMs: 60_000,
  loginSweepEveryMs: 60 * 60_000,
  scheduleCheckEveryMs: 15_000,
};

export function jobSettings(overrides: Partial<JobSettings> = {}): JobSettings {
  return { ...DEFAULT_JOB_SETTINGS, ...overrides };
}
