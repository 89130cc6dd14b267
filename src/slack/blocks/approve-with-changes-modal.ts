import type { types } from '@slack/bolt';
import { formatDuration } from '../../domain/duration.ts';
import { escapeAndTruncate } from '../mrkdwn.ts';
import { APPROVE_WITH_CHANGES_MODAL, changeShownBlockId, CHANGE_DURATION_ACTION, CHANGE_DURATION_BLOCK, CHANGE_ROLE_ACTION, CHANGE_ROLE_BLOCK } from './ids.ts';
import type { ModalStateValues } from './request-modal.ts';

/**
 * Opened by "Approve with changes…": the approver may shorten the duration or pick a lesser role
 * (those the policy lists), then approve. The request id travels in `private_metadata` (as
 * in every Latch form), the revision the approver saw in the first block's id; the submit handler re-checks everything against the stored request, so a
 * forged form can neither widen the request nor approve another revision.
 */

export interface ApproveWithChangesModalInput {
  requestId: string;
  revision: number;
  resourceName: string;
  role: string;
  durationSeconds: number;
  /** The roles the policy orders below `role`; empty: only the duration can change. */
  lesserRoles: string[];
  /** The scope asked for, already escaped for mrkdwn (scope-shown.ts); '' for none. It is approved as asked. */
  scope?: string;
}

const MAX_NAME_SHOWN = 70;

export function approveWithChangesModal(input: ApproveWithChangesModalInput): types.ModalView {
  const roleOption = (role: string): types.PlainTextOption => ({ text: { type: 'plain_text', text: role.slice(0, MAX_NAME_SHOWN) }, value: role });
  const what = `\`${escapeAndTruncate(input.role, 200)}\`${input.scope ? ` (${input.scope})` : ''} on *${escapeAndTruncate(input.resourceName, 200)}* for ${formatDuration(input.durationSeconds)}`;
  const roleBlock: types.KnownBlock =
    input.lesserRoles.length > 0
      ? {
          type: 'input',
          block_id: CHANGE_ROLE_BLOCK,
          label: { type: 'plain_text', text: 'Role' },
          hint: { type: 'plain_text', text: 'The asked role, or one the policy lists as giving less.' },
          element: {
            type: 'static_select',
            action_id: CHANGE_ROLE_ACTION,
            initial_option: roleOption(input.role),
            options: [input.role, ...input.lesserRoles].map(roleOption),
          },
        }
      : { type: 'context', elements: [{ type: 'mrkdwn', text: 'The policy lists no lesser role for this one: only the duration can be shortened.' }] };
  return {
    type: 'modal',
    callback_id: APPROVE_WITH_CHANGES_MODAL,
    private_metadata: input.requestId,
    title: { type: 'plain_text', text: 'Approve with changes' },
    submit: { type: 'plain_text', text: 'Approve' },
    close: { type: 'plain_text', text: 'Cancel' },
    blocks: [
      { type: 'section', block_id: changeShownBlockId(input.revision), text: { type: 'mrkdwn', text: `The request is for ${what}. You can narrow it before approving; the requester is told what changed.` } },
      roleBlock,
      // The scope is approved exactly as asked: shown so the approver sees what they approve.
      ...(input.scope ? [{ type: 'context', elements: [{ type: 'mrkdwn', text: `*Scope*, approved as asked: ${input.scope}` }] } as types.ContextBlock] : []),
      {
        type: 'input',
        block_id: CHANGE_DURATION_BLOCK,
        label: { type: 'plain_text', text: 'Duration' },
        hint: { type: 'plain_text', text: `At most the ${formatDuration(input.durationSeconds)} asked for, such as 30m or 1h.` },
        element: { type: 'plain_text_input', action_id: CHANGE_DURATION_ACTION, initial_value: formatDuration(input.durationSeconds).replace(/\s+/g, ''), max_length: 40 },
      },
    ],
  };
}

/** What the form holds: the role picked (null when the form offered no choice: it stays) and the duration typed. */
export function readApprovalChange(stateValues: ModalStateValues): { role: string | null; durationText: string } {
  const role = CHANGE_ROLE_BLOCK in stateValues ? (stateValues[CHANGE_ROLE_BLOCK]?.[CHANGE_ROLE_ACTION]?.selected_option?.value ?? '') : null;
  return { role, durationText: (stateValues[CHANGE_DURATION_BLOCK]?.[CHANGE_DURATION_ACTION]?.value ?? '').trim() };
}
