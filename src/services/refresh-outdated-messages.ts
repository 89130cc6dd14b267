import { publishCommitted } from './latch-events.ts';
import type { ServiceContext } from './service-context.ts';

/** How far back the sweep looks for changes: a message left out of date longer than this stays so. */
const LOOK_BACK_MS = 24 * 3600_000;
/** Requests rewritten per run: Slack allows about 50 chat.update a minute (tier 3), and each has up to three messages. */
const PER_RUN = 20;

/**
 * Requests with a message in Slack that may show an older state than the request's (its newest
 * audit event is past `messages_seq`, see messages-shown.ts), changed within the last day and no
 * later than `graceSeconds` ago (a change being announced right now is left to finish), are
 * published as `messages.outdated`, so their messages are rewritten. What leaves one behind: an
 * update Slack did not take, or a process that stopped between a commit and its update. Without
 * this, an approval message could keep its buttons after its request was decided. Returns the ids
 * published.
 */
export async function refreshOutdatedMessages(ctx: ServiceContext, graceSeconds = 60): Promise<string[]> {
  const now = ctx.clock.now().getTime();
  const since = new Date(now - LOOK_BACK_MS);
  const before = new Date(now - graceSeconds * 1000);
  const rows = await ctx.db.$queryRaw<Array<{ id: string }>>`
    SELECT r.id::text AS id
    FROM (
      SELECT request_id, max(seq) AS seq, max(at) AS at FROM audit_events
      WHERE at >= ${since}::timestamptz AND request_id IS NOT NULL
      GROUP BY request_id
    ) AS changed
    JOIN access_requests AS r ON r.id = changed.request_id
    WHERE changed.at < ${before}::timestamptz
      AND changed.seq > coalesce(r.messages_seq, 0)
      AND (r.approval_message_ts IS NOT NULL OR r.requester_message_ts IS NOT NULL OR r.security_message_ts IS NOT NULL)
    ORDER BY changed.seq
    LIMIT ${PER_RUN}`;
  for (const { id } of rows) await publishCommitted(ctx, { type: 'messages.outdated', requestId: id });
  return rows.map((row) => row.id);
}
