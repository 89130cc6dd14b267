import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import type { AccessContext } from '../../services/access-context.ts';
import { revokeGrant, type RevokeGrantResult } from '../../services/revoke-grant.ts';
import { countOf, defineQueuedJob } from '../job-definition.ts';
import { JOB_QUEUES } from '../job-queue-specs.ts';
import { DEFAULT_REVOCATION_BACKOFF, type RevocationBackoff } from '../job-settings.ts';
import { PERMANENT_FAILURE, RetryableFailure } from '../retryable-failure.ts';

/** Named in the revoke jobs' options; the worker computes its delays with revocationRetryDelayMs. */
export const REVOCATION_BACKOFF_TYPE = 'latch-revocation';

/**
 * Revokes a grant when it is due. Never given up: the attempts are effectively unlimited, on a
 * slowing schedule (RevocationBackoff); the use case tells people, the security channel when one
 * keeps failing. The job records the lateness and translates the result into BullMQ's terms.
 */
export const revokeGrantJob = defineQueuedJob({
  name: 'revoke',
  queue: JOB_QUEUES.revocations,
  payload: z.object({ grantId: z.uuid() }),
  id: ({ grantId }) => `revoke-${grantId}`,
  options: () => ({ attempts: 1_000_000, backoff: { type: REVOCATION_BACKOFF_TYPE }, removeOnComplete: true, removeOnFail: true }),
  retryDelay: {
    type: REVOCATION_BACKOFF_TYPE,
    delayMs: (attemptsMade, error, settings) => revocationRetryDelayMs(attemptsMade, error?.name === PERMANENT_FAILURE, settings.revocationBackoff),
  },
  describe: (running) => countOf(running.length, 'revoke job'),
  async run(ctx, { grantId }, attempt) {
    // Issue 19: a worker runs a bounded number of revocations at once, and a slot that waits for
    // Slack (the outcome's message rewrites and DM; a rate limit is waited out, for minutes) is one
    // that takes no other access away. The notices go to the notices queue instead, when it is run.
    const access = ctx.revocationNotices ? { ...ctx.access, events: ctx.revocationNotices } : ctx.access;
    const result = await revokeWhenDue(access, grantId);
    switch (result.outcome) {
      case 'revoked':
        // A grant closed while another covers the access had no provider call to verify.
        ctx.metrics?.revoked(result.dueAt, result.revokedAt, result.providerCalled ? { provider: result.provider, verifiedAt: result.verifiedAt } : undefined);
        return;
      case 'nothing':
        return;
      case 'not_due':
        return attempt.sleepUntil(result.dueAt);
      case 'retry':
        throw new RetryableFailure(result.message, result.permanent);
    }
  },
});

/** Delay before the retry that follows `attemptsMade` failures (1 after the first failure). */
export function revocationRetryDelayMs(attemptsMade: number, permanent: boolean, backoff: RevocationBackoff = DEFAULT_REVOCATION_BACKOFF): number {
  const failures = Math.max(1, attemptsMade);
  if (!permanent && failures < backoff.quickAttempts) return backoff.quickBaseMs * 2 ** (failures - 1);
  const slowStep = permanent ? Math.max(0, failures - 1) : failures - backoff.quickAttempts;
  return Math.min(backoff.slowMaxMs, backoff.slowBaseMs * 2 ** Math.min(slowStep, 30));
}

/**
 * A revocation due this soon is waited for here rather than put back to sleep in Redis, which
 * costs at least a moment plus a trip through the delayed set: a job that runs a moment early
 * (clocks of hosts that disagree by a few ms) would otherwise be that much late.
 */
const WAIT_IN_WORKER_MAX_MS = 1_000;

/**
 * Revokes the grant, waiting out the last moment before its expiry in the worker when the job ran
 * a little early. Never early itself: revokeGrant decides again, by the clock, once the wait is over.
 */
async function revokeWhenDue(ctx: AccessContext, grantId: string): Promise<RevokeGrantResult> {
  const result = await revokeGrant(ctx, grantId);
  if (result.outcome !== 'not_due') return result;
  const remainingMs = result.dueAt.getTime() - ctx.clock.now().getTime();
  if (remainingMs > WAIT_IN_WORKER_MAX_MS) return result;
  // A timer may fire up to a millisecond early by the wall clock: wait one more.
  await sleep(Math.max(0, remainingMs) + 1);
  return revokeGrant(ctx, grantId);
}
