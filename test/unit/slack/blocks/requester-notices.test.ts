import { describe, expect, it } from 'vitest';
import { CANCEL, END_ACCESS, EXTEND_ACCESS } from '../../../../src/slack/blocks/ids.ts';
import {
  INJECTION,
  INJECTION_ESCAPED,
  REQUEST_ID,
  requestView as baseRequestView,
} from '../../../helpers/request-view-fixture.ts';
import type { DecisionView, RequestStateName, RequestView } from '../../../../src/services/request-view.ts';
import { outcomeNotice, requestReceivedNotice } from '../../../../src/slack/blocks/requester-notices.ts';

function requestView(overrides: Partial<RequestView> = {}): RequestView {
  return baseRequestView({ requiredApprovals: 2, ...overrides });
}

const decision = (approverId: string, kind: 'approve' | 'deny', comment: string | null = null): DecisionView => ({
  approverId,
  decision: kind,
  comment,
  at: new Date('2024-05-01T10:05:00Z'),
});

type AnyBlock = Record<string, any>;
const ALL_STATES: RequestStateName[] = ['pending', 'approved', 'active', 'revoked', 'denied', 'cancelled', 'expired', 'failed'];
const firstSection = (blocks: readonly AnyBlock[]) => blocks.find((block) => block.type === 'section')?.text.text as string;
const actionsOf = (blocks: readonly AnyBlock[]) => blocks.filter((block) => block.type === 'actions');

describe('requestReceivedNotice', () => {
  it('says what was asked for, for how long, and how many approvals it waits for', () => {
    const { text, blocks } = requestReceivedNotice(requestView());
    expect(firstSection(blocks)).toBe('You asked for `read` on *Production database* for *2h*.\n⏳ Waiting for 2 approvals.');
    expect(text).toBe('Your request for read on Production database for 2h: waiting for approval');
  });

  it.each([
    { decisions: [], required: 1, expected: 'Waiting for 1 approval.' },
    { decisions: [decision('U2', 'approve')], required: 2, expected: 'Waiting for 1 more approval (<@U2> approved).' },
    { decisions: [decision('U2', 'approve'), decision('U2', 'approve')], required: 3, expected: 'Waiting for 2 more approvals (<@U2> approved).' },
  ])('$decisions.length decision(s), $required required → $expected', ({ decisions, required, expected }) => {
    expect(firstSection(requestReceivedNotice(requestView({ decisions, requiredApprovals: required })).blocks)).toContain(expected);
  });

  it('shows the reason and ticket the requester gave, escaped', () => {
    const { blocks } = requestReceivedNotice(requestView({ reason: INJECTION, ticket: INJECTION }));
    const json = JSON.stringify(blocks);
    expect(json).toContain(`Reason: ${INJECTION_ESCAPED} · Ticket: ${INJECTION_ESCAPED}`);
    expect(json).not.toContain('<!channel>');
  });

  it.each(ALL_STATES.map((state) => ({ state, buttons: state === 'pending' ? [CANCEL] : state === 'active' ? [END_ACCESS, EXTEND_ACCESS] : [] })))(
    '$state: buttons shown: $buttons (the message is rewritten after every change)',
    ({ state, buttons }) => {
      const actions = actionsOf(requestReceivedNotice(requestView({ state })).blocks);
      expect(actions.flatMap((block) => block.elements.map((element: { action_id: string }) => element.action_id))).toEqual(buttons);
    },
  );

  it('says how long extended access now lasts, and that a grant carried on by its extension has not ended the access', () => {
    const continuedUntil = new Date('2024-05-01T14:30:00Z');
    const extended = requestReceivedNotice(requestView({ state: 'active', continuedUntil }));
    expect(firstSection(extended.blocks)).toContain('Access extended: it now lasts until <!date^1714573800^');
    // One set of buttons: the extension's confirmation has them, this one points there.
    expect(actionsOf(extended.blocks)).toEqual([]);
    expect(firstSection(extended.blocks)).toContain('"I\'m done" and "Ask for more time" are on your request for more time, below.');
    expect(firstSection(requestReceivedNotice(requestView({ state: 'revoked', continuedUntil })).blocks)).toContain(
      'This grant ended; your access continues under the extension until <!date^1714573800^',
    );
  });

  it('names a request for more time as such', () => {
    const extension = { extendsRequestId: '01900000-0000-7000-8000-000000000001', currentEnd: new Date('2024-05-01T12:30:00Z') };
    expect(firstSection(requestReceivedNotice(requestView({ extension, durationSeconds: 3600 })).blocks)).toContain('for *1h* more');
  });

  it('tells the holder of active access when it ends, in their own time zone', () => {
    const grant = { grantedAt: new Date('2024-05-01T10:30:00Z'), expiresAt: new Date('2024-05-01T12:30:00Z'), revokedAt: null, endedBy: null, overdueError: null };
    expect(firstSection(requestReceivedNotice(requestView({ state: 'active', grant })).blocks)).toContain(
      'Access granted until <!date^1714566600^{date_short_pretty} at {time}|2024-05-01 12:30 UTC>, then revoked automatically.',
    );
  });

  it('asks for confirmation before cancelling, and the button carries only the request id', () => {
    const [actions] = actionsOf(requestReceivedNotice(requestView()).blocks);
    expect(actions?.elements).toEqual([
      expect.objectContaining({
        type: 'button',
        action_id: CANCEL,
        value: REQUEST_ID,
        confirm: expect.objectContaining({ title: expect.objectContaining({ text: 'Cancel this request?' }) }),
      }),
    ]);
  });

  it('offers Cancel on access approved for a later start until Latch begins granting it, in the confirmation only; the outcome points at it', () => {
    const booked = requestView({ state: 'approved', decidedByRule: 'short-reads', startsAt: new Date('2024-05-01T22:00:00Z') });
    const [actions] = actionsOf(requestReceivedNotice(booked).blocks);
    expect(actions?.elements).toEqual([
      expect.objectContaining({ action_id: CANCEL, value: REQUEST_ID, text: expect.objectContaining({ text: 'Cancel access' }), confirm: expect.objectContaining({ title: expect.objectContaining({ text: 'Cancel this access?' }) }) }),
    ]);
    const outcome = outcomeNotice(booked);
    expect(actionsOf(outcome.blocks)).toEqual([]);
    expect(JSON.stringify(outcome.blocks)).toContain('\\"Cancel access\\" is on your request above.');
    const granting = { ...booked, grant: { grantedAt: null, expiresAt: null, revokedAt: null, endedBy: null, overdueError: null } };
    expect(actionsOf(requestReceivedNotice(granting).blocks)).toEqual([]);
  });

  it('says when a pending request expires', () => {
    expect(JSON.stringify(requestReceivedNotice(requestView()).blocks)).toContain('If nobody decides by <!date^1714561200^');
  });
});

describe('outcomeNotice', () => {
  it.each<{ state: RequestStateName; overrides: Partial<RequestView>; expected: string }>([
    { state: 'approved', overrides: { decisions: [decision('U2', 'approve'), decision('U3', 'approve')] }, expected: '✅ Approved by <@U2>, <@U3>. Access is being granted.' },
    { state: 'approved', overrides: { decidedByRule: 'office-hours' }, expected: '✅ Approved by policy rule `office-hours`. Access is being granted.' },
    { state: 'active', overrides: {}, expected: '✅ Access granted. It is revoked automatically after 2h.' },
    { state: 'revoked', overrides: {}, expected: '⏹️ Your access has ended.' },
    { state: 'denied', overrides: { decisions: [decision('U3', 'deny')], outcomeReason: INJECTION }, expected: `⛔ Denied by <@U3>: ${INJECTION_ESCAPED}` },
    { state: 'denied', overrides: { decidedByRule: 'no-weekends' }, expected: '⛔ Denied by policy rule `no-weekends`.' },
    { state: 'cancelled', overrides: {}, expected: '🚫 Cancelled. Nobody can approve it now.' },
    {
      state: 'cancelled',
      overrides: { decidedAt: new Date('2024-05-01T10:00:00Z'), outcomeReason: 'Cancelled by the requester before access began.' },
      expected: '🚫 Cancelled by the requester before access began. Nothing was granted.',
    },
    { state: 'expired', overrides: {}, expected: '⌛ Expired: nobody decided in time. You can ask again with /request-access.' },
    { state: 'failed', overrides: { outcomeReason: 'role <admin> missing' }, expected: '⚠️ Latch could not complete this request: role &lt;admin&gt; missing' },
  ])('$state → $expected', ({ state, overrides, expected }) => {
    const { text, blocks } = outcomeNotice(requestView({ state, ...overrides }));
    expect(firstSection(blocks)).toBe(`Your request for \`read\` on *Production database* for *2h*:\n${expected}`);
    expect(text).toBe(`Your request for read on Production database for 2h: ${state}`);
    // Never rewritten, so never any buttons: they would outlive the access (the confirmation has them).
    expect(actionsOf(blocks)).toEqual([]);
  });

  it('says until when sessions already started may still work where the target lets them outlive the access, and nothing where it does not', () => {
    const grant = { grantedAt: new Date('2024-05-01T10:30:00Z'), expiresAt: new Date('2024-05-01T12:30:00Z'), revokedAt: null, endedBy: null, overdueError: null, effectiveEndLagSeconds: 3600 };
    // 12:30 + 1h = 13:30 UTC = 1714570200.
    const granted = JSON.stringify(outcomeNotice(requestView({ state: 'active', grant })).blocks);
    expect(granted).toContain('Access granted until <!date^1714566600^');
    expect(granted).toContain('Sessions already started can keep working until <!date^1714570200^{date_short_pretty} at {time}|2024-05-01 13:30 UTC>, up to 1h after the access ends');
    expect(JSON.stringify(requestReceivedNotice(requestView({ state: 'active', grant })).blocks)).toContain('<!date^1714570200^');
    // Ended early at 11:00: sessions started before may run to 12:00 (1714564800).
    const ended = JSON.stringify(outcomeNotice(requestView({ state: 'revoked', grant: { ...grant, revokedAt: new Date('2024-05-01T11:00:00Z') } })).blocks);
    expect(ended).toContain('Your access has ended.');
    expect(ended).toContain('Sessions started before it ended can keep working until <!date^1714564800^');
    for (const lag of [null, undefined, 0]) {
      expect(JSON.stringify(outcomeNotice(requestView({ state: 'active', grant: { ...grant, effectiveEndLagSeconds: lag } })).blocks)).not.toContain('Sessions');
    }
  });

  it('tells the holder of active access where their buttons are, and does not ask them to press one it lacks', () => {
    const active = requestView({ state: 'active', grant: { grantedAt: new Date('2024-05-01T10:30:00Z'), expiresAt: new Date('2024-05-01T12:30:00Z'), revokedAt: null, endedBy: null, overdueError: null } });
    const notice = JSON.stringify(outcomeNotice(active).blocks);
    expect(notice).toContain('Access granted until <!date^1714566600^');
    expect(notice).not.toContain('Press');
    expect(notice).toContain('\\"I\'m done\\" and \\"Ask for more time\\" are on your request above.');
    expect(JSON.stringify(requestReceivedNotice(active).blocks)).toContain('Press \\"I\'m done\\" to end it sooner.');
  });

  it('keeps every section within 3000 characters, however long the reasons', () => {
    const long = '&'.repeat(5000);
    const { blocks } = outcomeNotice(requestView({ state: 'denied', reason: long, outcomeReason: long, ticket: long, decidedByRule: long }));
    for (const block of blocks as AnyBlock[]) {
      for (const text of [block.text?.text, ...(block.elements ?? []).map((element: AnyBlock) => element.text)]) {
        if (typeof text === 'string') expect(text.length).toBeLessThanOrEqual(3000);
      }
    }
  });
});
