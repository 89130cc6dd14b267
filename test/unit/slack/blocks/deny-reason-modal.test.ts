import { describe, expect, it } from 'vitest';
import { denyReasonModal, readDenyReason } from '../../../../src/slack/blocks/deny-reason-modal.ts';
import { DENY_MODAL, DENY_REASON_ACTION, DENY_REASON_BLOCK } from '../../../../src/slack/blocks/ids.ts';

const REQUEST_ID = '6f1c2a4e-8b7d-4c3e-9a10-2b3c4d5e6f70';

type AnyBlock = Record<string, any>;

describe('denyReasonModal', () => {
  const view = denyReasonModal({ requestId: REQUEST_ID, resourceName: 'Production database', role: 'write' });

  it('submits to DENY_MODAL with the request id, and only that, as private metadata', () => {
    expect(view).toMatchObject({
      type: 'modal',
      callback_id: DENY_MODAL,
      private_metadata: REQUEST_ID,
      submit: { type: 'plain_text', text: 'Deny' },
    });
  });

  it('asks why, in one required multiline input of at most 500 characters', () => {
    const inputs = (view.blocks as AnyBlock[]).filter((block) => block.type === 'input');
    expect(inputs).toHaveLength(1);
    expect(inputs[0]).toMatchObject({
      block_id: DENY_REASON_BLOCK,
      label: { text: 'Why are you denying this request?' },
      element: { type: 'plain_text_input', action_id: DENY_REASON_ACTION, multiline: true, max_length: 500 },
    });
    expect(inputs[0]?.optional).toBeFalsy();
  });

  it('says what is being denied, escaped', () => {
    const modal = denyReasonModal({ requestId: REQUEST_ID, resourceName: 'DB <!here>', role: 'a&b' });
    expect(JSON.stringify(modal.blocks)).toContain('You are denying a request for `a&amp;b` on *DB &lt;!here&gt;*.');
  });
});

describe('readDenyReason', () => {
  it.each([
    { value: '  Use the read replica instead \n', expected: 'Use the read replica instead' },
    { value: null, expected: '' },
  ])('$value → $expected', ({ value, expected }) => {
    expect(readDenyReason({ [DENY_REASON_BLOCK]: { [DENY_REASON_ACTION]: { type: 'plain_text_input', value } } })).toBe(expected);
  });

  it('reads a payload without the block as no reason', () => {
    expect(readDenyReason({})).toBe('');
  });
});
