import type { types } from '@slack/bolt';
import { tallyVotes } from '../../domain/approval-tally.ts';
import { formatDuration } from '../../domain/duration.ts';
import { atSlackTime, countOf, escapeAndTruncate, groupMention, includingOneFrom, mention, slackDate, truncate } from '../mrkdwn.ts';
import { effectiveEndClause } from './effective-end.ts';
import { ACTIVE_ACCESS_ACTIONS_BLOCK, approvalActionsBlockId, APPROVE, APPROVE_ALL, APPROVE_WITH_CHANGES, bundleActionsBlockId, DENY, END_ACCESS } from './ids.ts';
import type { DecisionView, RequestView } from '../../services/request-view.ts';
import { changeLine } from './change-line.ts';
import type { SlackMessage } from './slack-message.ts';
import { scopeShown, scopeSuffix } from './scope-shown.ts';

/**
 * The message in a resource's approval channel. It is rebuilt whole from the stored request after
 * every change, so it always shows the truth: the votes so far, or how the request ended. The
 * buttons exist only while the request is pending and carry nothing but the request id: the
 * handlers re-read everything else from the database, never from what a click sent.
 */

// Slack's limits (PITFALLS.md).
const MAX_SECTION_TEXT = 3000;
const MAX_CONTEXT_TEXT = 3000;
const MAX_HEADER_TEXT = 150;
// A scope is at most a few values of 100 characters each; more is cut, never dropped silently.
const MAX_SCOPE_SHOWN = 1500;
// Our own caps: policy names are short in practice, and a ticket is at most 100 characters typed.
const MAX_NAME_SHOWN = 300;
const MAX_TICKET_SHOWN = 600;

/** At most eight blocks whatever the request holds (Slack allows 50): decisions share one context. */
export function approvalMessage(view: RequestView): SlackMessage {
  if (view.bundle && view.bundle.items.length > 1) return bundleApprovalMessage(view, view.bundle.items);
  const blocks: types.KnownBlock[] = [header(view), detailFields(view), reasonSection(view)];
  const risks = riskFlagsContext(view);
  if (risks) blocks.push(risks);
  const onCall = onCallContext(view);
  if (onCall) blocks.push(onCall);
  const decisions = decisionsContext(view);
  if (decisions) blocks.push(decisions);
  const status = statusSection(view);
  if (status) blocks.push(status);
  if (view.state === 'pending') blocks.push(decisionButtons(view.id, view.revision));
  if (view.state === 'active') blocks.push(revokeNowButton(view.id));
  return { text: notificationText(view), blocks };
}

/**
 * The reply in the approval thread when granting failed (an edited message notifies nobody). The
 * reason is the stored notice, escaped all the same: whatever is stored, nothing in it can mention
 * the channel or disguise a link.
 */
export function grantFailedReply(view: RequestView): SlackMessage {
  const reason = view.outcomeReason?.trim() ? ` ${escapeAndTruncate(view.outcomeReason.trim(), 2500)}` : '';
  const text = `⚠️ Latch could not grant this access, and the request is failed.${reason}`;
  return { text, blocks: [{ type: 'section', text: mrkdwn(text) }] };
}

/** The push notification and screen-reader text: names only what the policy file defines. */
function notificationText(view: RequestView): string {
  const what = `${escapeAndTruncate(view.role, MAX_NAME_SHOWN)}${scopeSuffix(view.scope, MAX_NAME_SHOWN)} on ${escapeAndTruncate(view.resourceName, MAX_NAME_SHOWN)} for ${formatDuration(view.durationSeconds)}${view.extension ? ' more' : ''}`;
  const state = view.state === 'pending' ? '' : ` (${view.state})`;
  return `${view.extension ? 'Request for more time' : 'Access request'} from ${requesterShown(view)}: ${what}${state}`;
}

/** The person who asked, or a machine with the person who answers for it. */
function requesterShown(view: RequestView): string {
  if (!view.machine) return mention(view.requesterId);
  const owner = view.machine.owner ? ('user' in view.machine.owner ? mention(view.machine.owner.user) : groupMention(view.machine.owner.group)) : 'none: no longer in the policy';
  return `machine \`${escapeAndTruncate(view.machine.id, MAX_NAME_SHOWN)}\` (owner ${owner})`;
}

function header(view: RequestView): types.HeaderBlock {
  const kind = view.extension ? 'Request for more time' : 'Access request';
  const title = view.state === 'pending' ? kind : `${kind} — ${view.state}`;
  return { type: 'header', text: { type: 'plain_text', text: title.slice(0, MAX_HEADER_TEXT) } };
}

function detailFields(view: RequestView): types.SectionBlock {
  // Each piece is cut before it is composed, so no field passes Slack's 2000 characters and the
  // whole message stays well under the ~13k characters Slack has refused (bolt-js#2509).
  const fields: Array<[string, string]> = [
    ['Requester', requesterShown(view)],
    ['Resource', `${escapeAndTruncate(view.resourceName, MAX_NAME_SHOWN)} (\`${escapeAndTruncate(view.resourceId, MAX_NAME_SHOWN)}\`)`],
    ['Role', `\`${escapeAndTruncate(view.role, MAX_NAME_SHOWN)}\``],
    // Exactly what was asked of the role: approvers approve this, and the provider grants only this.
    ...(view.scope ? [['Scope', scopeShown(view.scope, MAX_SCOPE_SHOWN) || '—'] as [string, string]] : []),
    // The account that will hold the access, so approvers approve a known identity.
    ...(view.principal ? [['As', `\`${escapeAndTruncate(view.principal, MAX_NAME_SHOWN)}\``] as [string, string]] : []),
    ...(view.extension
      ? ([
          ['More time', `+${formatDuration(view.durationSeconds)}`],
          // What approvers weigh: how long the access has to run, and until when it would.
          ['Access ends', view.extension.currentEnd ? slackDate(view.extension.currentEnd) : 'already ended'],
        ] as Array<[string, string]>)
      : [['Duration', formatDuration(view.durationSeconds)] as [string, string]]),
    // A later start is what approvers most need to know about a maintenance-window request.
    ...(view.startsAt ? [['Starts', slackDate(view.startsAt)] as [string, string]] : []),
    ['Ticket', view.ticket ? escapeAndTruncate(view.ticket, MAX_TICKET_SHOWN) : '—'],
    ['Requested', slackDate(view.createdAt)],
  ];
  return { type: 'section', fields: fields.map(([label, value]) => mrkdwn(`*${label}*\n${value}`)) };
}

/**
 * Why, in the requester's words. A machine's (an AI agent's, a pipeline's) is the task it states it
 * is doing: labelled as such, so approvers weigh it as the machine's claim, not its owner's.
 */
function reasonSection(view: RequestView): types.SectionBlock {
  const prefix = view.machine ? `*Task stated by machine \`${escapeAndTruncate(view.machine.id, MAX_NAME_SHOWN)}\`*\n` : '*Reason*\n';
  // Later approvers see that an approver narrowed it, and from what (the fields show what it is now).
  const changed = changeLine(view);
  const reason = view.reason.trim() === '' ? '—' : escapeAndTruncate(view.reason, MAX_SECTION_TEXT - prefix.length - changed.length);
  return { type: 'section', text: mrkdwn(prefix + reason + changed) };
}

/** Who decided what, oldest first, and while pending how many approvals are still missing. */
/**
 * What is unusual about the request, one line a flag, each naming its signal and why: approvers
 * weigh the reasons, not a score. The explanations are Latch's own text, escaped all the same.
 */
function riskFlagsContext(view: RequestView): types.ContextBlock | null {
  const flags = view.riskFlags ?? [];
  if (flags.length === 0) return null;
  const lines = flags.map((flag) => `⚠️ *${escapeAndTruncate(flag.signal, MAX_NAME_SHOWN)}*: ${escapeAndTruncate(flag.explanation, MAX_NAME_SHOWN)}`);
  return { type: 'context', elements: [mrkdwn(fitLines([`*Risk flags (${flags.length})*`, ...lines], MAX_CONTEXT_TEXT))] };
}

/**
 * Why an on-call rule did not decide: its provider could not be asked, so people decide instead
 * (and, once decided, did). Latch's own text, with the provider's name in it: escaped all the same.
 */
function onCallContext(view: RequestView): types.ContextBlock | null {
  if (!view.onCallNote) return null;
  return { type: 'context', elements: [mrkdwn(`⚠️ ${escapeAndTruncate(view.onCallNote, MAX_CONTEXT_TEXT - 100)}. People decide this request, not the on-call rule.`)] };
}

function decisionsContext(view: RequestView): types.ContextBlock | null {
  const pending = view.state === 'pending' ? pendingLines(view).join('\n') : '';
  // The pending lines matter most to an approver: decisions get the room that is left.
  const decisions = fitLines(distinctDecisions(view.decisions).map(decisionLine), MAX_CONTEXT_TEXT - pending.length - 1);
  const text = [decisions, pending].filter((part) => part !== '').join('\n');
  if (text === '') return null;
  return { type: 'context', elements: [mrkdwn(text)] };
}

/** An approver who clicked Approve twice approved once; every denial is shown. */
function distinctDecisions(decisions: readonly DecisionView[]): DecisionView[] {
  const approvers = new Set<string>();
  return decisions.filter((decision) => {
    if (decision.decision === 'deny') return true;
    if (approvers.has(decision.approverId)) return false;
    approvers.add(decision.approverId);
    return true;
  });
}

function decisionLine(decision: DecisionView): string {
  const comment = decision.comment?.trim() ? `: ${escapeAndTruncate(decision.comment.trim(), 1000)}` : '';
  return decision.decision === 'approve'
    ? `✅ ${mention(decision.approverId)} approved${comment}`
    : `⛔ ${mention(decision.approverId)} denied${comment}`;
}

function pendingLines(view: RequestView): string[] {
  const tally = tallyVotes(view.decisions, view.requiredApprovals, view.requesterId, view.requiredGroups);
  const lines: string[] = [];
  if (tally.outcome === 'pending') lines.push(`${countOf(tally.remaining, 'more approval')} needed${includingOneFrom(tally.missingGroups)}`);
  if (view.onCallApprovers) lines.push(`📟 Whoever is on call now for ${escapeAndTruncate(view.onCallApprovers, MAX_NAME_SHOWN)} may decide too`);
  if (view.escalatedTo.length > 0) lines.push(`⏫ Escalated: members of ${view.escalatedTo.map(groupMention).join(' and ')} may decide too`);
  if (view.pendingExpiresAt) lines.push(`Expires if nobody decides by ${slackDate(view.pendingExpiresAt)}`);
  return lines;
}

/**
 * Joins lines within `max` characters. Whole lines only, so a mention or a date is never cut in
 * half; what does not fit is counted instead.
 */
function fitLines(lines: readonly string[], max: number): string {
  const kept: string[] = [];
  let length = 0;
  for (const [index, line] of lines.entries()) {
    const omitted = `…and ${lines.length - index} more`;
    const rest = lines.length - index - 1;
    const wouldBe = length + (kept.length ? 1 : 0) + line.length;
    // Keep room for the "…and N more" line unless this is the last line.
    if (wouldBe > max || (rest > 0 && wouldBe + 1 + omitted.length > max)) {
      kept.push(omitted);
      break;
    }
    kept.push(line);
    length = wouldBe;
  }
  return kept.join('\n');
}

function statusSection(view: RequestView): types.SectionBlock | null {
  const status = statusLine(view);
  if (!status) return null;
  return { type: 'section', text: mrkdwn(status) };
}

/**
 * " by @ana, @ben at 14:05 (today)": who made the decision and when, so the time in the status line
 * says what it is. A policy rule decides as its name; break-glass is the rule `break-glass`.
 */
function decidedBy(view: RequestView, decision: 'approve' | 'deny'): string {
  const deciders = [...new Set(view.decisions.filter((d) => d.decision === decision).map((d) => d.approverId))];
  const by = view.decidedByRule
    ? ` by policy rule \`${escapeAndTruncate(view.decidedByRule, MAX_NAME_SHOWN)}\``
    : deciders.length > 0
      ? ` by ${deciders.map(mention).join(', ')}`
      : '';
  return `${by}${view.decidedAt ? ` ${atSlackTime(view.decidedAt)}` : ''}`;
}

/** For a request that ended after it was approved: a second line saying who approved it and when. */
function approvedEarlier(view: RequestView): string {
  return view.decidedAt ? `\nApproved${decidedBy(view, 'approve')}` : '';
}

/** How an ended request ended, for the approvers' channel. Reasons people wrote are escaped. */
function statusLine(view: RequestView): string | null {
  // Cut so the whole line, with its dates, stays within a section's 3000 characters.
  const reason = view.outcomeReason?.trim() ? escapeAndTruncate(view.outcomeReason.trim(), 2500) : null;
  const approved = `✅ *Approved*${decidedBy(view, 'approve')}`;
  switch (view.state) {
    case 'pending':
      return null;
    case 'approved':
      return view.startsAt ? `${approved}, access starts ${slackDate(view.startsAt)}` : `${approved}, access is being granted`;
    case 'active':
      return `${approved}, access is active${until(view)}${continued(view)}${effectiveEndClause(view)}${overdue(view)}`;
    case 'revoked':
      if (view.continuedUntil) {
        return `⏹️ *This grant ended*${view.grant?.revokedAt ? ` ${slackDate(view.grant.revokedAt)}` : ''}; the access continues under the extension${continued(view)}${approvedEarlier(view)}`;
      }
      return `⏹️ *Access ended*${view.grant?.revokedAt ? ` ${slackDate(view.grant.revokedAt)}` : ''}${reason ? `: ${reason}` : ''}${endedBy(view)}${effectiveEndClause(view)}${overdue(view)}${approvedEarlier(view)}`;
    case 'denied':
      return `⛔ *Denied*${decidedBy(view, 'deny')}${reason ? `: ${reason}` : ''}`;
    case 'cancelled':
      // The reason says who: the requester, or a security admin calling off approved access.
      return `🚫 *Cancelled*${reason ? `: ${reason}` : ' by the requester'}${approvedEarlier(view)}`;
    case 'expired':
      return '⌛ *Expired*: nobody decided in time';
    case 'failed':
      return `⚠️ *Failed*: ${reason ?? 'the provider gave up'}${approvedEarlier(view)}`;
  }
}

function until(view: RequestView): string {
  return view.grant?.expiresAt ? ` until ${slackDate(view.grant.expiresAt)}` : '';
}

function continued(view: RequestView): string {
  return view.continuedUntil ? `, extended until ${slackDate(view.continuedUntil)}` : '';
}

function endedBy(view: RequestView): string {
  return view.grant?.endedBy ? ` (${mention(view.grant.endedBy)})` : '';
}

/** A revocation that keeps failing is shown where everyone sees it, until it succeeds. */
function overdue(view: RequestView): string {
  const error = view.grant?.overdueError;
  return error ? `\n🚨 *Revocation overdue*: Latch keeps retrying. Last error: ${escapeAndTruncate(error, 600)}` : '';
}

/** For a security admin: ends the access at once (the handler checks who clicked). */
function revokeNowButton(requestId: string, uniqueIn?: string): types.ActionsBlock {
  return {
    type: 'actions',
    // Block ids are unique within a message: a bundle card holds one such block an item.
    block_id: uniqueIn ? `${ACTIVE_ACCESS_ACTIONS_BLOCK}:${uniqueIn}` : ACTIVE_ACCESS_ACTIONS_BLOCK,
    elements: [
      {
        type: 'button',
        action_id: END_ACCESS,
        style: 'danger',
        text: { type: 'plain_text', text: 'Revoke now' },
        value: requestId,
        confirm: {
          title: { type: 'plain_text', text: 'Revoke this access now?' },
          text: { type: 'plain_text', text: 'The access is removed at once, before its expiry.' },
          confirm: { type: 'plain_text', text: 'Revoke now' },
          deny: { type: 'plain_text', text: 'Keep it' },
          style: 'danger',
        },
      },
    ],
  };
}

function decisionButtons(requestId: string, revision: number, uniqueIn?: string): types.ActionsBlock {
  return {
    type: 'actions',
    block_id: approvalActionsBlockId(revision, uniqueIn),
    elements: [
      { type: 'button', action_id: APPROVE, style: 'primary', text: { type: 'plain_text', text: 'Approve' }, value: requestId },
      { type: 'button', action_id: APPROVE_WITH_CHANGES, text: { type: 'plain_text', text: 'Approve with changes…' }, value: requestId },
      { type: 'button', action_id: DENY, style: 'danger', text: { type: 'plain_text', text: 'Deny' }, value: requestId },
    ],
  };
}

/** Per item of a bundle card: whole lines of decisions and status within this, so ten items stay far below Slack's ~13k characters. */
const MAX_ITEM_TEXT = 900;

/**
 * The one card of a request for several resources (each item a request of its own): what they
 * share once (requester, duration, reason, ticket), then each item with its own state and its own
 * buttons (the ones a single request has, so every check of a decision applies item by item), and
 * "Approve all" while more than one waits. At most 4 + 2 an item + 2 blocks: 26 for ten items.
 */
function bundleApprovalMessage(card: RequestView, items: readonly RequestView[]): SlackMessage {
  const pending = items.filter((item) => item.state === 'pending');
  const blocks: types.KnownBlock[] = [
    { type: 'header', text: { type: 'plain_text', text: `Access request — ${items.length} resources${pending.length === 0 ? ' — decided' : ''}`.slice(0, MAX_HEADER_TEXT) } },
    bundleFields(card),
    reasonSection({ ...card, changed: null }),
  ];
  const risks = bundleRiskFlags(items);
  if (risks) blocks.push(risks);
  for (const [index, item] of items.entries()) {
    blocks.push({ type: 'section', text: mrkdwn(bundleItemText(item, index, card)) });
    if (item.state === 'pending') blocks.push(decisionButtons(item.id, item.revision, item.id));
    if (item.state === 'active') blocks.push(revokeNowButton(item.id, item.id));
  }
  // Items of different resources may wait for different times: the first to go is the one to know.
  const expires = pending.map((item) => item.pendingExpiresAt).filter((at): at is Date => at !== null).sort((a, b) => a.getTime() - b.getTime())[0];
  if (expires) blocks.push({ type: 'context', elements: [mrkdwn(`Items nobody decides in time expire, the first ${slackDate(expires)}.`)] });
  if (pending.length > 1) blocks.push(approveAllButton(card.id, items));
  const summary = items.map((item) => `${escapeAndTruncate(item.role, 60)} on ${escapeAndTruncate(item.resourceName, 60)}${item.state === 'pending' ? '' : ` (${item.state})`}`).join(', ');
  return { text: truncate(`Access request from ${requesterShown(card)} for ${formatDuration(card.durationSeconds)}: ${summary}`, 2900), blocks };
}

function bundleFields(view: RequestView): types.SectionBlock {
  const fields: Array<[string, string]> = [
    ['Requester', requesterShown(view)],
    ['Duration', formatDuration(view.durationSeconds)],
    ...(view.startsAt ? [['Starts', slackDate(view.startsAt)] as [string, string]] : []),
    ['Ticket', view.ticket ? escapeAndTruncate(view.ticket, MAX_TICKET_SHOWN) : '—'],
    ['Requested', slackDate(view.createdAt)],
  ];
  return { type: 'section', fields: fields.map(([label, value]) => mrkdwn(`*${label}*\n${value}`)) };
}

/** Every item's flags, each line naming the item it is about. */
function bundleRiskFlags(items: readonly RequestView[]): types.ContextBlock | null {
  const lines = items.flatMap((item) =>
    (item.riskFlags ?? []).map((flag) => `⚠️ \`${escapeAndTruncate(item.resourceId, 60)}:${escapeAndTruncate(item.role, 60)}\` *${escapeAndTruncate(flag.signal, MAX_NAME_SHOWN)}*: ${escapeAndTruncate(flag.explanation, MAX_NAME_SHOWN)}`),
  );
  if (lines.length === 0) return null;
  return { type: 'context', elements: [mrkdwn(fitLines([`*Risk flags (${lines.length})*`, ...lines], MAX_CONTEXT_TEXT))] };
}

/** "*1. Production DB* (`prod-db`) · `read`", the account, then its decisions and where it stands. */
function bundleItemText(item: RequestView, index: number, card: RequestView): string {
  // An approver may have shortened one item: its own duration is shown where it differs.
  const duration = item.durationSeconds !== card.durationSeconds ? ` for ${formatDuration(item.durationSeconds)}` : '';
  const title = `*${index + 1}. ${escapeAndTruncate(item.resourceName, 100)}* (\`${escapeAndTruncate(item.resourceId, 100)}\`) · \`${escapeAndTruncate(item.role, 100)}\`${scopeSuffix(item.scope, 300)}${duration}${item.principal ? ` as \`${escapeAndTruncate(item.principal, 100)}\`` : ''}`;
  const changed = changeLine(item).trim();
  const status = item.state === 'pending' ? pendingLines(item).filter((line) => !line.startsWith('Expires')) : [statusLine(item) ?? ''];
  const lines = [...(changed ? [changed] : []), ...distinctDecisions(item.decisions).map(decisionLine), ...status].filter((line) => line !== '');
  // Whole lines only, so no mention or date is cut in half: what does not fit is counted.
  return fitLines([title, ...lines], MAX_ITEM_TEXT);
}

/** Approves every item the clicker may approve, each on the revision shown here. */
function approveAllButton(cardId: string, items: readonly RequestView[]): types.ActionsBlock {
  return {
    type: 'actions',
    block_id: bundleActionsBlockId(items.map((item) => item.revision)),
    elements: [
      {
        type: 'button',
        action_id: APPROVE_ALL,
        style: 'primary',
        text: { type: 'plain_text', text: 'Approve all' },
        value: cardId,
        confirm: {
          title: { type: 'plain_text', text: 'Approve every item?' },
          text: { type: 'plain_text', text: 'Your approval is recorded on each waiting item you may approve. Items you may not approve are left for others.' },
          confirm: { type: 'plain_text', text: 'Approve all' },
          deny: { type: 'plain_text', text: 'Not yet' },
        },
      },
    ],
  };
}

function mrkdwn(text: string): types.MrkdwnElement {
  return { type: 'mrkdwn', text };
}
