import { storeMessageLocation, type MessageLocation } from '../store/message-locations.ts';
import type { ServiceContext } from './service-context.ts';

/**
 * A message about a request that reached Slack, and where it is, so it can be rewritten in place:
 * the approval message in the resource's approval channel, the requester's confirmation DM (Slack
 * names the DM channel in its answer), or the break-glass alert in the security channel.
 */
export type PostedMessage = MessageLocation;

/**
 * Remembers where a request's message was posted, and that it shows the request as of audit
 * event `shownSeq` (see messages-shown.ts): the request's messages are then known to be up to date
 * only as far as the oldest of them. Not audited: it changes nothing about the request, only where
 * Latch finds its messages again (and the sweeps, which messages are missing or out of date).
 */
export async function recordPostedMessage(ctx: Pick<ServiceContext, 'db'>, requestId: string, posted: PostedMessage, shownSeq: bigint): Promise<void> {
  await storeMessageLocation(ctx.db, requestId, posted, shownSeq);
}
