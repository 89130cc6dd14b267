import type { types } from '@slack/bolt';
import { formatDuration } from '../../domain/duration.ts';
import type { HomeData } from '../../services/load-home.ts';
import type { AccessRequest } from '../../store/generated/client.ts';
import { escapeAndTruncate, mention, slackDate } from '../mrkdwn.ts';
import { effectiveEndClause } from './effective-end.ts';
import { APPROVE, APPROVE_WITH_CHANGES, approvalActionsBlockId, CANCEL, DENY, END_ACCESS, EXTEND_ACCESS, HOME_BLOCK_PREFIX } from './ids.ts';
import { storedScopeShown } from './scope-shown.ts';

/**
 * The App Home tab: the person's access now (with "I'm done" and "Ask for more time"), their
 * requests waiting for approvers (Cancel), others' requests waiting for their decision (Approve,
 * Deny), and their recent history. Rebuilt whole from the database every time it is shown.
 */
export function appHome(data: HomeData, resourceName: (resourceId: string) => string): types.HomeView {
  const what = (request: AccessRequest) =>
    `\`${escapeAndTruncate(request.role, 100)}\`${scopeOf(request)} on *${escapeAndTruncate(resourceName(request.resourceId), 100)}*`;
  const blocks: types.KnownBlock[] = [{ type: 'header', text: plain('Your access') }];

  if (data.active.length === 0) blocks.push(context('You hold no access through Latch right now. Type `/request-access` to ask for some.'));
  for (const request of data.active) {
    const bookedAhead = request.state === 'approved' && request.startsAt !== null && request.grant === null;
    const until =
      request.grant?.expiresAt && request.state === 'active'
        ? `until ${slackDate(request.grant.expiresAt)}${effectiveEndClause(request)}`
        : bookedAhead
          ? `from ${slackDate(request.startsAt!)}`
          : 'being granted';
    const account = request.principal ? ` as \`${escapeAndTruncate(request.principal, 100)}\`` : '';
    blocks.push(section(`${what(request)}${account}, ${until}${request.breakGlass ? ' · 🚨 break-glass' : ''}`));
    if (request.state === 'active') {
      blocks.push(actions(`${HOME_BLOCK_PREFIX}_active:${request.id}`, [button(END_ACCESS, "I'm done", request.id), button(EXTEND_ACCESS, 'Ask for more time', request.id)]));
    }
    // Approved for a later start, nothing granted yet: it can still be called off.
    if (bookedAhead) blocks.push(actions(`${HOME_BLOCK_PREFIX}_booked:${request.id}`, [button(CANCEL, 'Cancel', request.id)]));
  }

  blocks.push({ type: 'divider' }, { type: 'header', text: plain('Waiting for approval') });
  if (data.pending.length === 0) blocks.push(context('None of your requests is waiting.'));
  for (const request of data.pending) {
    blocks.push(section(`${what(request)} for ${formatDuration(request.durationSeconds)}, asked ${slackDate(request.createdAt)}`));
    blocks.push(actions(`${HOME_BLOCK_PREFIX}_pending:${request.id}`, [button(CANCEL, 'Cancel', request.id)]));
  }

  blocks.push({ type: 'divider' }, { type: 'header', text: plain('Waiting for your decision') });
  if (data.awaiting.length === 0) blocks.push(context('Nothing waits for you.'));
  for (const request of data.awaiting) {
    const reason = escapeAndTruncate(request.reason, 500);
    blocks.push(section(`${mention(request.requesterSlackId)} asks for ${what(request)} for ${formatDuration(request.durationSeconds)}: ${reason}`));
    blocks.push(
      actions(approvalActionsBlockId(request.revision, request.id), [
        { ...button(APPROVE, 'Approve', request.id), style: 'primary' },
        button(APPROVE_WITH_CHANGES, 'Approve with changes…', request.id),
        { ...button(DENY, 'Deny', request.id), style: 'danger' },
      ]),
    );
  }

  if (data.recent.length > 0) {
    blocks.push({ type: 'divider' }, { type: 'header', text: plain('Recently') });
    blocks.push(context(data.recent.map((request) => `${request.state} · ${what(request)} · ${slackDate(request.endedAt ?? request.updatedAt)}`).join('\n').slice(0, 3000)));
  }
  return { type: 'home', blocks };
}

function plain(text: string) {
  return { type: 'plain_text' as const, text };
}

function section(text: string): types.SectionBlock {
  return { type: 'section', text: { type: 'mrkdwn', text: text.slice(0, 3000) } };
}

function context(text: string): types.ContextBlock {
  return { type: 'context', elements: [{ type: 'mrkdwn', text }] };
}

function actions(blockId: string, elements: types.Button[]): types.ActionsBlock {
  return { type: 'actions', block_id: blockId, elements };
}

function button(actionId: string, text: string, value: string): types.Button {
  return { type: 'button', action_id: actionId, text: plain(text), value };
}

/** " (customer 4711)" after the role of a scoped request. */
function scopeOf(request: AccessRequest): string {
  const shown = storedScopeShown(request.scope, 300);
  return shown === '' ? '' : ` (${shown})`;
}
