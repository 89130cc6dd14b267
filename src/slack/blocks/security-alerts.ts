import { escapeAndTruncate, escapeMrkdwn, mention, slackDate } from '../mrkdwn.ts';
import type { OverdueGrantView } from '../../services/load-overdue-grant.ts';
import type { SlackMessage } from './slack-message.ts';


/**
 * Posted once when a revocation keeps failing: access that should be gone still exists, which is
 * a security incident until someone looks. Names the grant so it can be found in the audit log.
 */
export function revocationOverdueAlert(grant: OverdueGrantView): SlackMessage {
  const what = `\`${escapeAndTruncate(grant.role, 200)}\` on *${escapeAndTruncate(grant.resourceName, 200)}* for ${mention(grant.requesterId)} (as \`${escapeAndTruncate(grant.principal, 200)}\`)`;
  const due = grant.dueAt ? `, due ${slackDate(grant.dueAt)}` : '';
  const error = grant.lastError ? escapeAndTruncate(grant.lastError, 1000) : 'unknown';
  return {
    text: `Revocation overdue: ${escapeAndTruncate(grant.role, 200)} on ${escapeAndTruncate(grant.resourceName, 200)} for ${mention(grant.requesterId)}`,
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: '🚨 Revocation overdue' } },
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: `Latch could not revoke ${what}${due}. ${grant.attempts} attempt(s) failed; it keeps retrying until it succeeds.\n*Last error*: ${error}`,
        },
      },
      { type: 'context', elements: [{ type: 'mrkdwn', text: `Grant \`${escapeMrkdwn(grant.grantId)}\` · request \`${escapeMrkdwn(grant.requestId)}\`` }] },
    ],
  };
}

/** Closes the incident the overdue alert opened. */
export function overdueRevocationDoneNotice(grant: OverdueGrantView): SlackMessage {
  const text = `✅ The overdue revocation of \`${escapeAndTruncate(grant.role, 200)}\` on *${escapeAndTruncate(grant.resourceName, 200)}* for ${mention(grant.requesterId)} is done (grant \`${grant.grantId}\`).`;
  return { text: `Overdue revocation done: ${escapeAndTruncate(grant.role, 200)} on ${escapeAndTruncate(grant.resourceName, 200)}`, blocks: [{ type: 'section', text: { type: 'mrkdwn', text } }] };
}

/** What the standing-access scan tells the security channel: new findings, and ones now gone. */
export interface StandingAccessView {
  found: Array<{ resourceName: string; role: string; principal: string }>;
  resolved: Array<{ resourceName: string; role: string; principal: string }>;
}

export function standingAccessAlert(view: StandingAccessView): SlackMessage {
  const line = (finding: { resourceName: string; role: string; principal: string }) =>
    `• \`${escapeAndTruncate(finding.principal, 200)}\` holds \`${escapeAndTruncate(finding.role, 200)}\` on *${escapeAndTruncate(finding.resourceName, 200)}*`;
  const blocks: SlackMessage['blocks'] = [];
  if (view.found.length > 0) {
    blocks.push({ type: 'header', text: { type: 'plain_text', text: '🚨 Standing access found' } });
    blocks.push({
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: `Held without a Latch grant (given outside Latch, or a revocation that silently failed):\n${view.found.slice(0, 40).map(line).join('\n')}${view.found.length > 40 ? `\n…and ${view.found.length - 40} more` : ''}`.slice(0, 3000),
      },
    });
  }
  if (view.resolved.length > 0) {
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `✅ No longer held without a grant:\n${view.resolved.slice(0, 40).map(line).join('\n')}`.slice(0, 3000) } });
  }
  return { text: view.found.length > 0 ? `Standing access found: ${view.found.length} holder(s) without a grant` : 'Standing access resolved', blocks };
}
