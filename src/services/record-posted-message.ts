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
 * Remembers where a request's message was posted. Not audited: it changes nothing about the
 * request, only where Latch finds its messages again (and the re-announce sweep, which messages
 * are still missing).
 */
export async function recordPostedMessage(ctx: Pick<ServiceContext, 'db'>, requestId: string, posted: PostedMessage): Promise<void> {
  await ctx.db.accessRequest.update({ where: { id: requestId }, data: locationOf(posted) });
}

function locationOf(posted: PostedMessage) {
  switch (posted.kind) {
    case 'approval':
      return { approvalMessageTs: posted.ts };
    case 'requester':
      return { requesterChannelId: posted.channelId, requesterMessageTs: posted.ts };
    case 'security':
      return { securityMessageTs: posted.ts };
  }
}
