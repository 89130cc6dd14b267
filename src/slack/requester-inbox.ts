import type { RequestView } from '../services/request-view.ts';
import type { SlackMessage } from './blocks/slack-message.ts';
import { groupMention } from './mrkdwn.ts';

/**
 * Who hears about a request by direct message: the person who asked, or, for a machine, its owner
 * when that is a person. Null when nobody can be sent a DM (an owner that is a user group, or a
 * machine no longer in the policy); `ownerGroupNotice` then tells the group in the approval thread.
 */
export function requesterInbox(view: RequestView): string | null {
  if (!view.machine) return view.requesterId;
  const owner = view.machine.owner;
  return owner && 'user' in owner ? owner.user : null;
}

/** A notice for a machine's owning user group, mentioning it so its members are notified; null otherwise. */
export function ownerGroupNotice(view: RequestView, notice: SlackMessage): SlackMessage | null {
  const owner = view.machine?.owner;
  if (!owner || !('group' in owner)) return null;
  const lead = `${groupMention(owner.group)}: about machine \`${view.machine!.id}\`, which your group owns`;
  return { text: `${lead}. ${notice.text}`, blocks: [{ type: 'section', text: { type: 'mrkdwn', text: lead } }, ...(notice.blocks ?? [])] };
}
