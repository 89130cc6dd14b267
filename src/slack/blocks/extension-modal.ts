import type { types } from '@slack/bolt';
import type { ExtensionErrors } from '../../domain/extension-rules.ts';
import { MAX_REASON_LENGTH } from '../../domain/access-request-rules.ts';
import { formatDuration } from '../../domain/duration.ts';
import { escapeAndTruncate, slackDate } from '../mrkdwn.ts';
import { EXTEND_DURATION_ACTION, EXTEND_DURATION_BLOCK, EXTEND_MODAL, EXTEND_REASON_ACTION, EXTEND_REASON_BLOCK } from './ids.ts';
import type { ModalStateValues } from './request-modal.ts';

/**
 * Opened by "Ask for more time" on the holder's DM. The request id travels in `private_metadata`;
 * the submit handler checks everything again against the database and the policy.
 */

export interface ExtensionModalInput {
  requestId: string;
  resourceName: string;
  role: string;
  /** When the access ends now. */
  until: Date;
  /** How much more the role's maximum still allows. */
  leftSeconds: number;
}

export function extensionModal(input: ExtensionModalInput): types.ModalView {
  const what = `\`${escapeAndTruncate(input.role, 200)}\` on *${escapeAndTruncate(input.resourceName, 200)}*`;
  return {
    type: 'modal',
    callback_id: EXTEND_MODAL,
    private_metadata: input.requestId,
    title: { type: 'plain_text', text: 'Ask for more time' },
    submit: { type: 'plain_text', text: 'Ask' },
    close: { type: 'plain_text', text: 'Cancel' },
    blocks: [
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: `Your access to ${what} ends ${slackDate(input.until)}. The approvers decide on more time; until they do, it ends as planned.`,
        },
      },
      {
        type: 'input',
        block_id: EXTEND_DURATION_BLOCK,
        label: { type: 'plain_text', text: 'How much more time?' },
        hint: { type: 'plain_text', text: `e.g. 30m or 1h. At most ${formatDuration(input.leftSeconds)} more.` },
        element: { type: 'plain_text_input', action_id: EXTEND_DURATION_ACTION, max_length: 50 },
      },
      {
        type: 'input',
        block_id: EXTEND_REASON_BLOCK,
        label: { type: 'plain_text', text: 'Why?' },
        element: { type: 'plain_text_input', action_id: EXTEND_REASON_ACTION, multiline: true, max_length: MAX_REASON_LENGTH },
      },
    ],
  };
}

export function readExtensionModal(stateValues: ModalStateValues): { duration: string; reason: string } {
  return {
    duration: (stateValues[EXTEND_DURATION_BLOCK]?.[EXTEND_DURATION_ACTION]?.value ?? '').trim(),
    reason: (stateValues[EXTEND_REASON_BLOCK]?.[EXTEND_REASON_ACTION]?.value ?? '').trim(),
  };
}

/** Field errors keyed by block_id; a refusal that is about no one field is shown on the duration. */
export function extensionModalErrors(refusal: { message: string; fields?: ExtensionErrors | undefined }): Record<string, string> {
  const errors = refusal.fields;
  if (!errors) return { [EXTEND_DURATION_BLOCK]: refusal.message };
  const byBlock: Record<string, string> = {};
  if (errors.duration) byBlock[EXTEND_DURATION_BLOCK] = errors.duration;
  if (errors.reason) byBlock[EXTEND_REASON_BLOCK] = errors.reason;
  return byBlock;
}
