import { formatDuration } from '../../domain/duration.ts';
import type { RequestView } from '../../services/request-view.ts';
import { escapeAndTruncate, mention } from '../mrkdwn.ts';

/**
 * "✏️ <@U2> changed it before approving: role `write` → `read`, duration 4h → 1h." on a new line,
 * for the requester's notice and the approval card; empty when no approver narrowed the request.
 */
export function changeLine(view: Pick<RequestView, 'changed' | 'role' | 'durationSeconds'>): string {
  if (!view.changed) return '';
  const parts: string[] = [];
  if (view.changed.fromRole !== view.role) parts.push(`role \`${escapeAndTruncate(view.changed.fromRole, 200)}\` → \`${escapeAndTruncate(view.role, 200)}\``);
  if (view.changed.fromDurationSeconds !== view.durationSeconds) parts.push(`duration ${formatDuration(view.changed.fromDurationSeconds)} → ${formatDuration(view.durationSeconds)}`);
  return parts.length > 0 ? `\n✏️ ${mention(view.changed.by)} changed it before approving: ${parts.join(', ')}.` : '';
}
