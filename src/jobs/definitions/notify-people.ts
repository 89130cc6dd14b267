import { z } from 'zod';
import type { RequestEvent } from '../../services/latch-events.ts';
import { countOf, defineQueuedJob } from '../job-definition.ts';
import { JOB_QUEUES } from '../job-queue-specs.ts';

const requestId = z.uuid();
const grantId = z.uuid();

/** Every LatchEvent about one request, as it is written: ids only, never content. */
const requestEvent: z.ZodType<RequestEvent> = z.discriminatedUnion('type', [
  z.object({
    type: z.enum([
      'request.created',
      'request.unannounced',
      'vote.recorded',
      'request.expired',
      'request.cancelled',
      'request.escalated',
      'reminder.due',
      'access.end_requested',
      'grant.failed',
      'messages.outdated',
      'break_glass.reviewed',
      'break_glass.review_overdue',
    ]),
    requestId,
  }),
  z.object({ type: z.literal('request.decided'), requestId, outcome: z.enum(['approved', 'denied']) }),
  z.object({ type: z.enum(['access.granted', 'access.ended', 'revocation.overdue', 'revocation.recovered']), requestId, grantId }),
]);

/**
 * What happens to a request at most once (its state moves on, or it is marked, in the same
 * commit): its event alone names the notice. Any other (a vote, of which a request gets several)
 * is named with the version of the request it follows.
 */
const ONCE_PER_REQUEST: ReadonlySet<RequestEvent['type']> = new Set(['request.created', 'request.decided', 'request.expired', 'request.cancelled', 'access.end_requested', 'break_glass.reviewed']);

/** Does the notice of this event need the request's newest audit seq in its id? */
export function happensMoreThanOnce(event: RequestEvent): boolean {
  return !ONCE_PER_REQUEST.has(event.type);
}

/**
 * Tells people in Slack what a use case run by `latch web` published (runtime/queued-notices.ts):
 * the approval message and the requester's DM of a new request, the rewrites after a vote, the
 * outcome. The worker's Slack notifier does it exactly as the web process did in-process.
 *
 * The id names the event, so a retried enqueue, or the same event published twice, is one job:
 * the type and request of an event that happens once to a request, plus `seq` for the others, the
 * request's newest audit event when it was queued. Two votes in a row are two jobs (their seqs
 * differ); two events of one type queued at the same seq are one, which is enough: it runs after
 * both commits and reads them both. Finished jobs are kept an hour, so the id still refuses a late
 * duplicate (an outcome DM twice).
 *
 * Retried a few times when it throws (PostgreSQL unreachable while loading the request); Slack's
 * own refusals are logged by the notifier and repaired by the sweeps, never retried here. The
 * posts are idempotent (the approval message and DM are posted only when not recorded yet, a
 * rewrite writes what is), except the outcome DM, which a retry after it was posted would repeat.
 */
export const notifyPeopleJob = defineQueuedJob({
  name: 'notify',
  queue: JOB_QUEUES.notices,
  payload: z
    .object({ event: requestEvent, seq: z.string().regex(/^\d+$/).optional() })
    .refine(({ event, seq }) => (seq !== undefined) === happensMoreThanOnce(event), 'seq is given for an event that may happen more than once to a request, and only then'),
  id: ({ event, seq }) => `notify-${event.type}-${event.requestId}${seq === undefined ? '' : `-${seq}`}`,
  options: () => ({
    attempts: 3,
    backoff: { type: 'exponential', delay: 1_000 },
    removeOnComplete: { age: 3_600, count: 100_000 },
    removeOnFail: { age: 24 * 3_600, count: 10_000 },
  }),
  describe: (running) => countOf(running.length, 'Slack notice'),
  async run(ctx, { event }) {
    await ctx.access.events.publish(event);
  },
});
