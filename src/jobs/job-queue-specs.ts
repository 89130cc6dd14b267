/**
 * Latch's BullMQ queues and how their workers run. Grants and revocations have queues apart, so
 * a burst of grants never delays a revocation; the Slack notices that follow what people do in
 * Slack have theirs, so a burst of clicks never delays either; the sweeps and the digests run one
 * at a time.
 */
export interface JobQueueSpec {
  /** The queue's name in Redis, under the key prefix (LATCH_QUEUE_PREFIX). */
  name: string;
  /**
   * `configured`: JobSettings.concurrency jobs at once in each process; `revocations`:
   * JobSettings.revokeConcurrency; otherwise one.
   */
  concurrency: 'configured' | 'revocations' | 'one';
  /**
   * A job whose worker died (kill -9, a lost host) is found again only once its lock has expired
   * and two stalled checks have seen it: with BullMQ's defaults (30 s and 30 s) that is up to a
   * minute and a half, too long for a revocation. Such queues use shorter values.
   */
  quickStallRecovery: boolean;
}

export const JOB_QUEUES = {
  grants: { name: 'latch-grants', concurrency: 'configured', quickStallRecovery: true },
  revocations: { name: 'latch-revocations', concurrency: 'revocations', quickStallRecovery: true },
  // A notice a dead worker dropped is also found by the sweeps (announce, refresh) every 30 s.
  notices: { name: 'latch-notices', concurrency: 'configured', quickStallRecovery: false },
  maintenance: { name: 'latch-maintenance', concurrency: 'one', quickStallRecovery: false },
  digests: { name: 'latch-digests', concurrency: 'one', quickStallRecovery: false },
} as const satisfies Record<string, JobQueueSpec>;

/**
 * The lock is renewed every half lockDuration while a job runs, so these bound the recovery of a
 * dead worker's job, not the length of a job.
 */
export const QUICK_STALL_RECOVERY = { lockDuration: 15_000, stalledInterval: 10_000 } as const;
