import type { ApproverGroup, ApproverHealth, GroupExpiries } from '../../domain/approver-health.ts';
import { formatDuration } from '../../domain/duration.ts';
import { countOf, escapeAndTruncate, groupMention, mention } from '../mrkdwn.ts';

/** Lines per part: the ones that need attention come first, and the digest stays a digest. */
const MAX_LINES = 5;
/** Approvers and resources named per line before "+N more", so no line outgrows its section. */
const MAX_NAMES = 4;
const MAX_ID_LENGTH = 60;

/**
 * The digest's approver health, as mrkdwn sections: time to decision per approver group, approvals
 * given within seconds of their request, people who approve each other's requests, and requests
 * nobody decided. A part with nothing to say is left out, and so is the whole when all are.
 * Every line is bounded (names, ids and lines per part), so each section stays far below Slack's
 * 3000 characters and the four together add at most a few thousand to the message.
 */
export function approverHealthSections(health: ApproverHealth): string[] {
  const sections: string[] = [];
  if (health.decisionTimes.length > 0) {
    const lines = health.decisionTimes.map(
      (row) =>
        `• ${approversOf(row.group)}${forResources(row.group)}: median ${readable(row.medianSeconds)}, p90 ${readable(row.p90Seconds)} over ${countOf(row.decisions, 'decision')}`,
    );
    sections.push(capped('*Time to decision by approver group*', lines, 'group'));
  }
  if (health.quickApprovers.length > 0) {
    const quick = health.quickApprovers.reduce((sum, row) => sum + row.quick, 0);
    const lines = health.quickApprovers.map((row) => `• ${mention(row.approverId)}: ${row.quick} of ${countOf(row.approvals, 'approval')}`);
    sections.push(
      capped(
        `*Approved within ${formatDuration(health.rubberStampUnderSeconds)} of the request*: ${countOf(quick, 'approval')} by ${countOf(health.quickApprovers.length, 'approver')}`,
        lines,
        'approver',
      ),
    );
  }
  if (health.mutualApprovals.length > 0) {
    const lines = health.mutualApprovals.map(({ people: [a, b], approvals: [aApprovedB, bApprovedA] }) => `• ${mention(a)} approved ${aApprovedB} of ${mention(b)}'s requests, and ${mention(b)} ${bApprovedA} of ${mention(a)}'s`);
    sections.push(capped(`*Approving each other's requests*: ${countOf(health.mutualApprovals.length, 'pair')}`, lines, 'pair'));
  }
  if (health.expiredUndecided.total > 0) {
    const lines = health.expiredUndecided.byGroup.map((entry) => `• ${approversOf(entry.group)}: ${entry.total}${onResources(entry)}`);
    sections.push(capped(`*Expired undecided*: ${countOf(health.expiredUndecided.total, 'request')}`, lines, 'group'));
  }
  return sections;
}

/** Who decides, as the policy names them: its user groups and people, and how many must approve. */
function approversOf(group: ApproverGroup): string {
  if (!group.approvers) return `the approvers of ${code(group.resourceIds[0] ?? '')} (no longer in the policy)`;
  const { users, groups, required, oneFrom, oneMoreWhenFlagged } = group.approvers;
  const who = [...groups.map(groupMention), ...users.map(mention)];
  const named = who.length === 0 ? 'nobody named' : listed(who);
  const rules = [
    ...(required > 1 ? [`${required} approvals`] : []),
    ...oneFrom.map((oneOf) => `one from ${groupMention(oneOf)}`),
    ...(oneMoreWhenFlagged ? ['one more when flagged'] : []),
  ];
  return rules.length > 0 ? `${named} (${rules.join(', ')})` : named;
}

/** " for `prod-db`, `analytics`": the resources a group decides; a removed resource's group names it already. */
function forResources(group: ApproverGroup): string {
  return group.approvers ? ` for ${listed(group.resourceIds.map(code))}` : '';
}

/** ": 2 on `prod-db`" or ": 3 (`prod-db` 2, `analytics` 1)". */
function onResources(entry: GroupExpiries): string {
  if (entry.resources.length === 1) return ` on ${code(entry.resources[0]!.resourceId)}`;
  return ` (${listed(entry.resources.map((row) => `${code(row.resourceId)} ${row.requests}`))})`;
}

function listed(items: string[]): string {
  const shown = items.slice(0, MAX_NAMES).join(', ');
  return items.length > MAX_NAMES ? `${shown} +${items.length - MAX_NAMES} more` : shown;
}

function code(id: string): string {
  return `\`${escapeAndTruncate(id, MAX_ID_LENGTH)}\``;
}

/** Whole seconds under a minute (a quick approval is seconds), whole minutes from a minute up. */
function readable(seconds: number): string {
  return formatDuration(seconds >= 60 ? Math.round(seconds / 60) * 60 : Math.round(seconds));
}

function capped(heading: string, lines: string[], noun: string): string {
  const shown = lines.slice(0, MAX_LINES);
  const rest = lines.length - shown.length;
  return [heading, ...shown, ...(rest > 0 ? [`…and ${countOf(rest, `more ${noun}`)}`] : [])].join('\n');
}
