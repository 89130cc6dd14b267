import type { ServiceContext } from './service-context.ts';

/** A message about a request that reached Slack, and where it is, so it can be rewritten in place. */
export type PostedMessage =
  /** The approval message in the resource's approval channel. */
  | { kind: 'approval'; ts: string }
  /** The requester's confirmation DM; Slack names the DM channel in its answer. */
  | { kind: 'requester'; channelId: string | null; ts: string }
  /** The break-glass alert in the security channel. */
  | { kind: 'security'; ts: string };

/**
 * Remembers where a request's message was posted, and that it shows the request as of audit
 * event `shownSeq` (see messages-shown.ts): the request's messages are then known to be up to date
 * only as far as the oldest of them. Not audited: it changes nothing about the request, only where
 * Latch finds its messages again (and the sweeps, which messages are missing or out of date).
 */
export async function recordPostedMessage(ctx: Pick<ServiceContext, 'db'>, requestId: string, posted: PostedMessage, shownSeq: bigint): Promise<void> {
  const now = new Date();
  switch (posted.kind) {
    case 'approval':
      await ctx.db.$executeRaw`UPDATE access_requests SET approval_message_ts = ${posted.ts}, messages_seq = LEAST(messages_seq, ${shownSeq}::bigint), updated_at = ${now}::timestamptz WHERE id = ${requestId}::uuid`;
      return;
    case 'requester':
      await ctx.db.$executeRaw`UPDATE access_requests SET requester_channel_id = ${posted.channelId}, requester_message_ts = ${posted.ts}, messages_seq = LEAST(messages_seq, ${shownSeq}::bigint), updated_at = ${now}::timestamptz WHERE id = ${requestId}::uuid`;
      return;
    case 'security':
      await ctx.db.$executeRaw`UPDATE access_requests SET security_message_ts = ${posted.ts}, messages_seq = LEAST(messages_seq, ${shownSeq}::bigint), updated_at = ${now}::timestamptz WHERE id = ${requestId}::uuid`;
      return;
  }
}
