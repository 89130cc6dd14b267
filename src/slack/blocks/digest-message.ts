import { scopeSuffix } from './scope-shown.ts';
import type { types } from '@slack/bolt';
import { isApproverHealthEmpty, type ApproverHealth } from '../../domain/approver-health.ts';
import { formatDuration } from '../../domain/duration.ts';
import type { DigestReport } from '../../services/compute-digest.ts';
import { isQuiet } from '../../services/compute-digest.ts';
import { escapeAndTruncate, mention, slackDate } from '../mrkdwn.ts';
import { approverHealthSections } from './approver-health-sections.ts';
import type { SlackMessage } from './slack-message.ts';

const MAX_SECTION_TEXT = 3000;

/**
 * A digest for the security channel: what happened to access in the period, how approvers
 * behaved in it (`health`, when given), what is held now, and the audit chain's head, which, once
 * posted, anchors the chain in Slack's own history.
 */
export function digestMessage(name: string, report: DigestReport, health: ApproverHealth | null = null): SlackMessage {
  const period = `${slackDate(report.since)} – ${slackDate(report.until)}`;
  const head = report.chainHead ? `audit chain head: event ${report.chainHead.seq}, \`${report.chainHead.hash}\`` : 'the audit chain is empty';
  // A request made in an earlier period that expired undecided in this one is news, however still it was.
  if (isQuiet(report) && (health === null || isApproverHealthEmpty(health))) {
    const line = `🗒️ Access digest *${escapeAndTruncate(name, 100)}*, ${period}: nothing to report; ${head}.`;
    return { text: `Access digest ${escapeAndTruncate(name, 100)}: nothing to report`, blocks: [{ type: 'section', text: { type: 'mrkdwn', text: line } }] };
  }
  const sections = digestSections(report, health);
  const blocks: types.KnownBlock[] = [
    { type: 'header', text: { type: 'plain_text', text: `Access digest — ${name}`.slice(0, 150) } },
    { type: 'context', elements: [{ type: 'mrkdwn', text: period }] },
    ...sections.map((text): types.SectionBlock => ({ type: 'section', text: { type: 'mrkdwn', text: text.slice(0, MAX_SECTION_TEXT) } })),
    { type: 'context', elements: [{ type: 'mrkdwn', text: `Anchor: ${head}. ${anchorCheck(report.chainHead)}` }] },
  ];
  return { text: `Access digest ${escapeAndTruncate(name, 100)}: ${report.requestsTotal} request(s), ${report.activeGrants} grant(s) active`, blocks };
}

/** The command that checks the chain still reaches this head (cutting its tail does not). */
function anchorCheck(head: DigestReport['chainHead']): string {
  return head ? `\`latch audit verify --anchor ${head.seq}:${head.hash}\` checks the chain still reaches it.` : '`latch audit verify` checks the chain.';
}

/** The digest's sections as mrkdwn, also what `latch digest send --dry-run` prints. */
export function digestSections(report: DigestReport, health: ApproverHealth | null = null): string[] {
  const states = Object.entries(report.requestsByState)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([state, count]) => `${count} ${state}`)
    .join(', ');
  const latency = report.decisionLatency
    ? `median ${formatDuration(roundToMinute(report.decisionLatency.medianSeconds))}, p90 ${formatDuration(roundToMinute(report.decisionLatency.p90Seconds))}`
    : 'no decisions by people';
  const sections = [
    `*Requests*: ${report.requestsTotal}${states ? ` (${states})` : ''}\n*Approved*: ${report.approvedByPeople} by people, ${report.approvedByPolicy} by policy · *Denied*: ${report.denied}\n*Time to decision*: ${latency}`,
  ];
  if (report.breakGlass.length > 0) {
    // Unreviewed uses first: they are what the security channel must act on.
    const ordered = [...report.breakGlass].sort((a, b) => Number(a.reviewedBy !== null) - Number(b.reviewedBy !== null));
    const uses = ordered.map((use) => {
      const review = use.reviewedBy ? `reviewed by ${mention(use.reviewedBy)}` : `⚠️ *not reviewed*${use.reviewDueAt ? ` (due ${slackDate(use.reviewDueAt)})` : ''}`;
      return `• ${mention(use.requesterId)}: \`${escapeAndTruncate(use.role, 100)}\`${scopeSuffix(use.scope, 200)} on \`${escapeAndTruncate(use.resourceId, 100)}\`, ${slackDate(use.at)}, ${review}`;
    });
    sections.push(withinSection(`*Break-glass*: ${report.breakGlass.length}`, uses));
  }
  if (report.standingAccess.length > 0) {
    const holders = report.standingAccess.map(
      (finding) => `• \`${escapeAndTruncate(finding.principal, 100)}\` holds \`${escapeAndTruncate(finding.role, 100)}\` on \`${escapeAndTruncate(finding.resourceId, 100)}\` without a grant, since ${slackDate(finding.firstSeenAt)}`,
    );
    sections.push(withinSection(`🚨 *Standing access*: ${report.standingAccess.length} holder(s) without a grant`, holders));
  }
  const longest = report.longestActive.map(
    (grant) => `• ${mention(grant.requesterId)} as \`${escapeAndTruncate(grant.principal, 100)}\`: \`${escapeAndTruncate(grant.role, 100)}\`${scopeSuffix(grant.scope, 200)} on \`${escapeAndTruncate(grant.resourceId, 100)}\` for ${formatDuration(roundToMinute((grant.expiresAt.getTime() - grant.grantedAt.getTime()) / 1000))}, until ${slackDate(grant.expiresAt)}`,
  );
  sections.push(`*Active grants now*: ${report.activeGrants}${longest.length > 0 ? `; the longest:\n${longest.join('\n')}` : ''}`);
  const revocations = `*Revocations*: ${report.lateRevocations} more than a minute late, ${report.failedRevocationAttempts} failed attempt(s)${report.overdueNow > 0 ? ` · 🚨 *${report.overdueNow} overdue now*` : ', none overdue'}`;
  const perProvider = report.revocationsByProvider.map((row) => {
    const verified = row.verifiedLateness
      ? `${row.verified} verified gone, ${lateness(row.verifiedLateness.medianSeconds)} after the scheduled end at the median, ${lateness(row.verifiedLateness.maxSeconds)} at worst`
      : null;
    const unverified = row.unverified > 0 ? `${row.unverified} not verifiable (recorded as the provider reported)` : null;
    return `• \`${escapeAndTruncate(row.provider, 40)}\`: ${[verified, unverified].filter(Boolean).join('; ')}`;
  });
  sections.push(perProvider.length > 0 ? `${revocations}\n${perProvider.join('\n')}` : revocations);
  if (health) sections.push(...approverHealthSections(health));
  const top = (label: string, rows: Array<{ id: string; requests: number }>, show: (id: string) => string) =>
    rows.length > 0 ? `*${label}*: ${rows.map((row) => `${show(row.id)} (${row.requests})`).join(', ')}` : null;
  const tops = [top('Top requesters', report.topRequesters, mention), top('Top resources', report.topResources, (id) => `\`${escapeAndTruncate(id, 100)}\``)].filter(Boolean);
  if (tops.length > 0) sections.push(tops.join('\n'));
  return sections;
}

/**
 * A heading and as many whole lines as fit in one section block, then how many were left out: a
 * busy period would otherwise be cut mid-line (and mid-mention) at Slack's 3000 characters.
 */
export function withinSection(heading: string, lines: string[]): string {
  let text = heading;
  for (const [index, line] of lines.entries()) {
    const rest = lines.length - index;
    const more = rest > 1 ? `\n…and ${rest - 1} more: \`latch audit export\` lists them all` : '';
    if (text.length + 1 + line.length + more.length > MAX_SECTION_TEXT) {
      return `${text}\n…and ${rest} more: \`latch audit export\` lists them all`;
    }
    text += `\n${line}`;
  }
  return text;
}

/** Whole minutes from a minute up, whole seconds below it. */
function roundToMinute(seconds: number): number {
  return seconds >= 60 ? Math.round(seconds / 60) * 60 : Math.round(seconds);
}

/** A lateness as people read it: sub-second in ms, then seconds, then a duration. */
function lateness(seconds: number): string {
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 120) return `${Math.round(seconds)} s`;
  return formatDuration(Math.round(seconds));
}
