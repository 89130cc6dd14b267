import type { types } from '@slack/bolt';
import { tallyVotes } from '../../domain/approval-tally.ts';
import { formatDuration } from '../../domain/duration.ts';
import { countOf, escapeAndTruncate, includingOneFrom, mention, slackDate } from '../mrkdwn.ts';
import { ACTIVE_ACCESS_ACTIONS_BLOCK, CANCEL, END_ACCESS, EXTEND_ACCESS, REQUESTER_ACTIONS_BLOCK } from './ids.ts';
import type { RequestView } from '../../services/request-view.ts';
import { changeLine } from './change-line.ts';
import { effectiveEndSentence } from './effective-end.ts';
import type { SlackMessage } from './slack-message.ts';
import { scopeSuffix } from './scope-shown.ts';

/**
 * The requester's direct messages: a confirmation posted when the request is made (and rewritten
 * after every change, so it never shows a stale Cancel button), and a notice at each outcome. Only
 * the confirmation has buttons: it is the one message Latch rewrites, so its buttons go when the
 * access ends, and the requester has one set of them, never a second that outlives the access.
 */

// Keeps every section within Slack's 3000 characters however long the user text is.
const MAX_REASON_SHOWN = 2000;
const MAX_OUTCOME_REASON_SHOWN = 2000;
const MAX_TICKET_SHOWN = 200;

/** The confirmation: what was asked for, for how long, and where it stands. */
export function requestReceivedNotice(view: RequestView): SlackMessage {
  if (view.bundle && view.bundle.items.length > 1) return bundleReceivedNotice(view, view.bundle.items);
  const blocks: types.KnownBlock[] = [
    section(`You asked for ${whatWasAsked(view)}.\n${whereItStands(view)}`),
    context(requestDetails(view)),
  ];
  if (view.state === 'pending' && view.pendingExpiresAt) {
    blocks.push(context(`If nobody decides by ${slackDate(view.pendingExpiresAt)}, the request expires.`));
  }
  if (view.state === 'pending') blocks.push(cancelButton(view.id));
  if (isBookedAhead(view)) blocks.push(cancelButton(view.id, 'approved'));
  // Carried on by a request for more time, the access's buttons are on that request's confirmation (the latest).
  if (view.state === 'active' && !view.continuedUntil) blocks.push(activeAccessButtons(view.id));
  return { text: `Your request for ${plainWhat(view)}: ${plainState(view)}`, blocks };
}

/**
 * The confirmation of a request for several resources: what they share once, then each item
 * with where it stands and its own buttons (each item is a request of its own). At most 2 + 2 an
 * item blocks: 22 for ten items.
 */
function bundleReceivedNotice(card: RequestView, items: readonly RequestView[]): SlackMessage {
  const blocks: types.KnownBlock[] = [
    section(`You asked for ${items.length} resources at once, for *${formatDuration(card.durationSeconds)}* each. Each is decided, granted and revoked on its own.`),
    context(requestDetails(card)),
  ];
  for (const item of items) {
    blocks.push(section(`• ${whatWasAsked(item)}\n${whereItStands(item)}${changeLine(item)}`));
    const buttons = item.state === 'pending' ? cancelButton(item.id) : isBookedAhead(item) ? cancelButton(item.id, 'approved') : item.state === 'active' && !item.continuedUntil ? activeAccessButtons(item.id) : null;
    // Block ids are unique within a message: one buttons block an item.
    if (buttons) blocks.push({ ...buttons, block_id: `${buttons.block_id}:${item.id}` });
  }
  const waiting = items.filter((item) => item.state === 'pending').length;
  return { text: `Your request for ${items.length} resources: ${waiting > 0 ? `${waiting} waiting for approval` : 'decided'}`, blocks };
}

/**
 * The notice sent once a request is decided or ends, saying why in the decider's words. Plain: it
 * is posted and never rewritten, so buttons on it would stay live after the access ended; it
 * points at the confirmation's instead.
 */
export function outcomeNotice(view: RequestView): SlackMessage {
  const buttonsAbove = view.state === 'active' && !view.continuedUntil ? ['"I\'m done" and "Ask for more time" are on your request above.'] : isBookedAhead(view) ? ['"Cancel access" is on your request above.'] : [];
  return {
    text: `Your request for ${plainWhat(view)}: ${plainState(view)}`,
    blocks: [section(`Your request for ${whatWasAsked(view)}:\n${whereItStands(view, 'notice')}${changeLine(view)}`), context([requestDetails(view), ...buttonsAbove].join('\n'))],
  };
}

/** Approved for a later start and not yet being granted: it can still be called off (Cancel). */
function isBookedAhead(view: Pick<RequestView, 'state' | 'startsAt' | 'grant'>): boolean {
  return view.state === 'approved' && view.startsAt !== null && view.grant === null;
}

/** "`read` on *Production DB* for *2h*": policy names, escaped all the same. */
function whatWasAsked(view: RequestView): string {
  return `\`${escapeAndTruncate(view.role, 200)}\`${scopeSuffix(view.scope)} on *${escapeAndTruncate(view.resourceName, 200)}* for *${formatDuration(view.durationSeconds)}*${view.extension ? ' more' : ''}`;
}

/** The same without formatting, for the notification text. */
function plainWhat(view: RequestView): string {
  return `${escapeAndTruncate(view.role, 200)}${scopeSuffix(view.scope, 200)} on ${escapeAndTruncate(view.resourceName, 200)} for ${formatDuration(view.durationSeconds)}${view.extension ? ' more' : ''}`;
}

function plainState(view: RequestView): string {
  return view.state === 'pending' ? 'waiting for approval' : view.state;
}

function requestDetails(view: RequestView): string {
  const ticket = view.ticket ? ` · Ticket: ${escapeAndTruncate(view.ticket, MAX_TICKET_SHOWN)}` : '';
  return `Reason: ${escapeAndTruncate(view.reason, MAX_REASON_SHOWN)}${ticket}`;
}

/**
 * One line, in the second person, for each state. People's words (reasons) are escaped. In the
 * `notice`, which has no buttons, nothing says to press one.
 */
function whereItStands(view: RequestView, shownIn: 'confirmation' | 'notice' = 'confirmation'): string {
  const reason = view.outcomeReason?.trim() ? escapeAndTruncate(view.outcomeReason.trim(), MAX_OUTCOME_REASON_SHOWN) : null;
  const rule = view.decidedByRule ? `policy rule \`${escapeAndTruncate(view.decidedByRule, 200)}\`` : null;
  switch (view.state) {
    case 'pending':
      return `⏳ ${waitingFor(view)}`;
    case 'approved':
      return view.startsAt
        ? `✅ Approved by ${rule ?? approversOf(view)}. Access will be granted ${slackDate(view.startsAt)}.`
        : `✅ Approved by ${rule ?? approversOf(view)}. Access is being granted.`;
    case 'active':
      if (view.continuedUntil) return `✅ Access extended: it now lasts until ${slackDate(view.continuedUntil)}, then is revoked automatically. "I'm done" and "Ask for more time" are on your request for more time, below.${effectiveEndSentence(view)}`;
      return view.grant?.expiresAt
        ? `✅ Access granted until ${slackDate(view.grant.expiresAt)}, then revoked automatically.${shownIn === 'confirmation' ? ' Press "I\'m done" to end it sooner.' : ''}${effectiveEndSentence(view)}`
        : `✅ Access granted. It is revoked automatically after ${formatDuration(view.durationSeconds)}.`;
    case 'revoked':
      if (view.continuedUntil) return `⏹️ This grant ended; your access continues under the extension until ${slackDate(view.continuedUntil)}.`;
      return `⏹️ Your access has ended${reason ? `: ${reason}` : '.'}${effectiveEndSentence(view)}`;
    case 'denied': {
      const by = rule ?? deniersOf(view);
      return `⛔ Denied${by ? ` by ${by}` : ''}${reason ? `: ${reason}` : '.'}`;
    }
    case 'cancelled':
      if (view.decidedAt) return `🚫 ${reason ?? 'Cancelled before access began.'} Nothing was granted.`;
      return '🚫 Cancelled. Nobody can approve it now.';
    case 'expired':
      return '⌛ Expired: nobody decided in time. You can ask again with /request-access.';
    case 'failed':
      return `⚠️ Latch could not complete this request${reason ? `: ${reason}` : '.'}`;
  }
}

/** "Waiting for 2 approvals", then "Waiting for 1 more approval (<@U2> approved)". */
function waitingFor(view: RequestView): string {
  const tally = tallyVotes(view.decisions, view.requiredApprovals, view.requesterId, view.requiredGroups);
  if (tally.outcome !== 'pending') return 'Waiting for the decision to be recorded.';
  const groups = includingOneFrom(tally.missingGroups);
  if (tally.approvers.length === 0) return `Waiting for ${countOf(tally.remaining, 'approval')}${groups}.`;
  return `Waiting for ${countOf(tally.remaining, 'more approval')}${groups} (${tally.approvers.map(mention).join(', ')} approved).`;
}

function approversOf(view: RequestView): string {
  const approvers = [...new Set(view.decisions.filter((d) => d.decision === 'approve').map((d) => d.approverId))];
  return approvers.length ? approvers.map(mention).join(', ') : 'the approvers';
}

function deniersOf(view: RequestView): string | null {
  const deniers = [...new Set(view.decisions.filter((d) => d.decision === 'deny').map((d) => d.approverId))];
  return deniers.length ? deniers.map(mention).join(', ') : null;
}

function cancelButton(requestId: string, state: 'pending' | 'approved' = 'pending'): types.ActionsBlock {
  const approved = state === 'approved';
  return {
    type: 'actions',
    block_id: REQUESTER_ACTIONS_BLOCK,
    elements: [
      {
        type: 'button',
        action_id: CANCEL,
        text: { type: 'plain_text', text: approved ? 'Cancel access' : 'Cancel request' },
        value: requestId,
        // A stray click should not throw away a request the approvers may be reading.
        confirm: {
          title: { type: 'plain_text', text: approved ? 'Cancel this access?' : 'Cancel this request?' },
          text: {
            type: 'plain_text',
            text: approved ? 'It was approved but has not started: it will not be granted. You can ask again later.' : 'Approvers will no longer be able to approve it. You can ask again later.',
          },
          confirm: { type: 'plain_text', text: approved ? 'Cancel access' : 'Cancel request' },
          deny: { type: 'plain_text', text: 'Keep it' },
          style: 'danger',
        },
      },
    ],
  };
}

/** "I'm done" ends the access now (no confirmation: asking again is cheap); "Ask for more time" opens a form. */
function activeAccessButtons(requestId: string): types.ActionsBlock {
  return {
    type: 'actions',
    block_id: ACTIVE_ACCESS_ACTIONS_BLOCK,
    elements: [
      { type: 'button', action_id: END_ACCESS, text: { type: 'plain_text', text: "I'm done" }, value: requestId },
      { type: 'button', action_id: EXTEND_ACCESS, text: { type: 'plain_text', text: 'Ask for more time' }, value: requestId },
    ],
  };
}

function section(text: string): types.SectionBlock {
  return { type: 'section', text: { type: 'mrkdwn', text } };
}

function context(text: string): types.ContextBlock {
  return { type: 'context', elements: [{ type: 'mrkdwn', text }] };
}

