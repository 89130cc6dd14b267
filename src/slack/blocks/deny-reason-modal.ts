import type { types } from '@slack/bolt';
import { escapeAndTruncate } from '../mrkdwn.ts';
import { DENY_MODAL, DENY_REASON_ACTION, DENY_REASON_BLOCK } from './ids.ts';
import type { ModalStateValues } from './request-modal.ts';

/**
 * Opened when an approver clicks Deny: a denial always says why, and the requester sees it. The
 * request id travels in `private_metadata`, and the submit handler re-reads the request from the
 * database before deciding.
 */

export interface DenyReasonModalInput {
  requestId: string;
  resourceName: string;
  role: string;
}

export const MAX_DENY_REASON_LENGTH = 500;

export function denyReasonModal(input: DenyReasonModalInput): types.ModalView {
  const what = `\`${escapeAndTruncate(input.role, 200)}\` on *${escapeAndTruncate(input.resourceName, 200)}*`;
  return {
    type: 'modal',
    callback_id: DENY_MODAL,
    private_metadata: input.requestId,
    title: { type: 'plain_text', text: 'Deny request' },
    submit: { type: 'plain_text', text: 'Deny' },
    close: { type: 'plain_text', text: 'Cancel' },
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `You are denying a request for ${what}.` } },
      {
        type: 'input',
        block_id: DENY_REASON_BLOCK,
        label: { type: 'plain_text', text: 'Why are you denying this request?' },
        hint: { type: 'plain_text', text: 'The requester will see this.' },
        element: {
          type: 'plain_text_input',
          action_id: DENY_REASON_ACTION,
          multiline: true,
          max_length: MAX_DENY_REASON_LENGTH,
        },
      },
    ],
  };
}

/** The submitted reason, trimmed ('' when missing, which the use case refuses). */
export function readDenyReason(stateValues: ModalStateValues): string {
  return (stateValues[DENY_REASON_BLOCK]?.[DENY_REASON_ACTION]?.value ?? '').trim();
}
