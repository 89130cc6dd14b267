import { z } from 'zod';
import { grantAccess } from '../../services/grant-access.ts';
import { countOf, defineQueuedJob } from '../job-definition.ts';
import { JOB_QUEUES } from '../job-queue-specs.ts';
import { RetryableFailure } from '../retryable-failure.ts';

/**
 * Grants an approved request. Retried on a transient provider failure (exponential, see
 * GrantRetryPolicy); the last attempt fails the request. While Slack cannot say who the requester
 * is, it is retried too, but never failed for it: the request stays approved for the reconcile
 * job to queue again. The use case queues the revocation (or
 * the clean-up revocation of a failed grant) and tells people; the job only translates its result.
 * Finished jobs are removed at once, so the reconcile job can queue the grant again whenever
 * PostgreSQL says it is still needed.
 */
export const grantAccessJob = defineQueuedJob({
  name: 'grant',
  queue: JOB_QUEUES.grants,
  payload: z.object({ requestId: z.uuid() }),
  id: ({ requestId }) => `grant-${requestId}`,
  options: ({ grantRetry }) => ({
    attempts: grantRetry.attempts,
    backoff: { type: 'exponential', delay: grantRetry.baseDelayMs },
    removeOnComplete: true,
    removeOnFail: true,
  }),
  describe: (running) => countOf(running.length, 'grant job'),
  async run(ctx, { requestId }, attempt) {
    const result = await grantAccess(ctx.access, { requestId, finalAttempt: attempt.isFinal });
    switch (result.outcome) {
      case 'granted':
      case 'failed':
        return;
      case 'not_yet':
        return attempt.sleepUntil(result.startsAt);
      case 'skipped':
        ctx.logger.info({ accessRequestId: requestId, reason: result.reason }, 'grant job had nothing to do');
        return;
      case 'retry':
        throw new RetryableFailure(result.message);
    }
  },
});
