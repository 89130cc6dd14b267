import type { types } from '@slack/bolt';
import { formatDuration } from '../../domain/duration.ts';
import { escapeAndTruncate, mention, slackDate } from '../mrkdwn.ts';
import { BREAK_GLASS_ACTIONS_BLOCK, REVIEW_BREAK_GLASS } from './ids.ts';
import type { RequestView } from '../../services/request-view.ts';
import type { SlackMessage } from './slack-message.ts';
import { scopeSuffix } from './scope-shown.ts';

/**
 * Break-glass use, announced loudly in the security channel: who took what, why, and until when
 * it must be reviewed. The message is rebuilt on every change, so it shows the review once done.
 */
export function breakGlassAlert(view: RequestView): SlackMessage {
  const review = view.breakGlass;
  const what = `\`${escapeAndTruncate(view.role, 200)}\`${scopeSuffix(view.scope)} on *${escapeAndTruncate(view.resourceName, 200)}* for *${formatDuration(view.durationSeconds)}*`;
  const account = view.principal ? ` as \`${escapeAndTruncate(view.principal, 200)}\`` : '';
  const status = review?.reviewedAt
    ? `✅ Reviewed by ${mention(review.reviewedBy ?? 'someone')} ${slackDate(review.reviewedAt)}`
    : `⏳ Needs a review by someone other than ${mention(view.requesterId)}${review?.reviewDueAt ? ` by ${slackDate(review.reviewDueAt)}` : ''}`;
  const blocks: types.KnownBlock[] = [
    { type: 'header', text: { type: 'plain_text', text: '🚨 Break-glass access used' } },
    { type: 'section', text: { type: 'mrkdwn', text: `${mention(view.requesterId)} took ${what}${account}, without approval.` } },
    { type: 'section', text: { type: 'mrkdwn', text: `*Reason*\n${escapeAndTruncate(view.reason, 2500)}` } },
    { type: 'context', elements: [{ type: 'mrkdwn', text: `${status} · request \`${view.id}\` · state ${view.state}` }] },
  ];
  if (review && !review.reviewedAt) {
    blocks.push({
      type: 'actions',
      block_id: BREAK_GLASS_ACTIONS_BLOCK,
      elements: [{ type: 'button', action_id: REVIEW_BREAK_GLASS, style: 'primary', text: { type: 'plain_text', text: 'Mark reviewed' }, value: view.id }],
    });
  }
  return { text: `Break-glass: ${mention(view.requesterId)} took ${escapeAndTruncate(view.role, 200)} on ${escapeAndTruncate(view.resourceName, 200)} without approval`, blocks };
}

/** A reply in the alert's thread while the review is overdue. */
export function breakGlassReminder(view: RequestView): SlackMessage {
  const due = view.breakGlass?.reviewDueAt ? `; it was due ${slackDate(view.breakGlass.reviewDueAt)}` : '';
  const text = `⏰ ${mention(view.requesterId)}'s break-glass use of \`${escapeAndTruncate(view.role, 200)}\` on *${escapeAndTruncate(view.resourceName, 200)}* is still not reviewed${due}. Press *Mark reviewed* above once someone has looked.`;
  return { text: `Break-glass review overdue: ${escapeAndTruncate(view.role, 200)} on ${escapeAndTruncate(view.resourceName, 200)}`, blocks: [{ type: 'section', text: { type: 'mrkdwn', text } }] };
}
