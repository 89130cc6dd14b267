import { storeMessageLocation, type MessageLocation } from '../store/message-locations.ts';
import type { ServiceContext } from './service-context.ts';

/**
 * A message about a request that reached Slack, and where it is, so it can be rewritten in place:
 * the approval message in the resource's approval channel, the requester's confirmation DM (Slack
 * names the DM channel in its answer), or the break-glass alert in the security channel.
 */
export type PostedMessage = MessageLocation;

/**
 * Remembers where a request's message was posted. Not audited: it changes nothing about the
 * request, only where Latch finds its messages again (and the re-announce sweep, which messages
 * are still missing).
 */
export async function recordPostedMessage(ctx: Pick<ServiceContext, 'db'>, requestId: string, posted: PostedMessage): Promise<void> {
  await storeMessageLocation(ctx.db, requestId, posted);
}
