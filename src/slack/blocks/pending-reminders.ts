import { tallyVotes } from '../../domain/approval-tally.ts';
import { formatDuration } from '../../domain/duration.ts';
import { countOf, escapeAndTruncate, groupMention, includingOneFrom, mention } from '../mrkdwn.ts';
import type { RequestView } from '../../services/request-view.ts';
import type { SlackMessage } from './slack-message.ts';
import { scopeSuffix } from './scope-shown.ts';

/**
 * Replies in an undecided request's approval thread, broadcast to the channel: an edited message
 * notifies nobody, a mention in a new reply does.
 */

export function approvalReminder(view: RequestView, approvers: { users: string[]; groups: string[] }): SlackMessage {
  const tally = tallyVotes(view.decisions, view.requiredApprovals, view.requesterId, view.requiredGroups);
  const missing = tally.outcome === 'pending' ? `${countOf(tally.remaining, 'more approval')} needed${includingOneFrom(tally.missingGroups)}` : 'a decision is needed';
  const who = [...approvers.users.filter((user) => user !== view.requesterId).map(mention), ...approvers.groups.map(groupMention)].join(' ');
  const text = `⏰ ${who ? `${who}: ` : ''}${mention(view.requesterId)} is still waiting for \`${escapeAndTruncate(view.role, 200)}\`${scopeSuffix(view.scope)} on *${escapeAndTruncate(view.resourceName, 200)}* for ${formatDuration(view.durationSeconds)}; ${missing}.`;
  return { text: `Still waiting for a decision: ${escapeAndTruncate(view.role, 200)} on ${escapeAndTruncate(view.resourceName, 200)}`, blocks: [{ type: 'section', text: { type: 'mrkdwn', text } }] };
}

export function escalationNotice(view: RequestView, groups: string[]): SlackMessage {
  const text = `⏫ Escalated to ${groups.map(groupMention).join(' and ')}: nobody has decided ${mention(view.requesterId)}'s request for \`${escapeAndTruncate(view.role, 200)}\` on *${escapeAndTruncate(view.resourceName, 200)}* yet. Members of ${groups.length === 1 ? 'that group' : 'those groups'} may now approve or deny it above.`;
  return { text: `Escalated: ${escapeAndTruncate(view.role, 200)} on ${escapeAndTruncate(view.resourceName, 200)}`, blocks: [{ type: 'section', text: { type: 'mrkdwn', text } }] };
}
