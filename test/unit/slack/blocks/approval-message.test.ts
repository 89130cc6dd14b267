import { describe, expect, it } from 'vitest';
import { approvalMessage, grantFailedReply } from '../../../../src/slack/blocks/approval-message.ts';
import { APPROVE, APPROVE_WITH_CHANGES, DENY, END_ACCESS, revisionOfApprovalBlock } from '../../../../src/slack/blocks/ids.ts';
import {
  INJECTION,
  INJECTION_ESCAPED,
  REQUEST_ID,
  requestView as baseRequestView,
} from '../../../helpers/request-view-fixture.ts';
import type { DecisionView, GrantView, RequestStateName, RequestView } from '../../../../src/services/request-view.ts';

function requestView(overrides: Partial<RequestView> = {}): RequestView {
  return baseRequestView({ ticket: 'INC-7', ...overrides });
}

const approve = (approverId: string, comment: string | null = null): DecisionView => ({
  approverId,
  decision: 'approve',
  comment,
  at: new Date('2024-05-01T10:05:00Z'),
});
const deny = (approverId: string, comment: string | null = null): DecisionView => ({
  approverId,
  decision: 'deny',
  comment,
  at: new Date('2024-05-01T10:06:00Z'),
});

type AnyBlock = Record<string, any>;
const ALL_STATES: RequestStateName[] = ['pending', 'approved', 'active', 'revoked', 'denied', 'cancelled', 'expired', 'failed'];

/** Every piece of text in the blocks, as a reader (or Slack's renderer) gets it. */
function textsOf(blocks: readonly AnyBlock[]): string[] {
  const texts: string[] = [];
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(visit);
    else if (node && typeof node === 'object') {
      const object = node as AnyBlock;
      if ((object.type === 'mrkdwn' || object.type === 'plain_text') && typeof object.text === 'string') texts.push(object.text);
      Object.values(object).forEach(visit);
    }
  };
  visit(blocks);
  return texts;
}
const shown = (view: RequestView) => textsOf(approvalMessage(view).blocks).join('\n');
const contextText = (view: RequestView) =>
  approvalMessage(view).blocks.filter((block) => block.type === 'context').map((block) => textsOf([block]).join('\n')).join('\n');
const actionsOf = (view: RequestView) => (approvalMessage(view).blocks as AnyBlock[]).filter((block) => block.type === 'actions');

describe('approvalMessage: escaping', () => {
  it.each([
    { field: 'reason', overrides: { reason: INJECTION } },
    { field: 'ticket', overrides: { ticket: INJECTION } },
    { field: 'deny comment', overrides: { state: 'denied' as const, decisions: [deny('U3', INJECTION)] } },
    { field: 'approve comment', overrides: { decisions: [approve('U2', INJECTION)], requiredApprovals: 2 } },
    { field: 'outcome reason', overrides: { state: 'denied' as const, outcomeReason: INJECTION } },
    { field: 'failure reason', overrides: { state: 'failed' as const, outcomeReason: INJECTION } },
    { field: 'policy rule', overrides: { state: 'approved' as const, decidedByRule: INJECTION } },
    { field: 'resource name', overrides: { resourceName: INJECTION } },
    { field: 'role', overrides: { role: INJECTION } },
  ])('shows the $field as text, never as a broadcast or a disguised link', ({ overrides }) => {
    const message = approvalMessage(requestView(overrides));
    const everything = JSON.stringify(message);
    expect(textsOf(message.blocks).join('\n')).toContain(INJECTION_ESCAPED);
    expect(everything).not.toContain('<!channel>');
    expect(everything).not.toContain('<https://evil');
  });

  it('escapes & before < and >, so text that looks like an entity stays as typed', () => {
    expect(shown(requestView({ reason: 'a &lt; b & c > d' }))).toContain('a &amp;lt; b &amp; c &gt; d');
  });

  it('keeps user text out of the notification fallback', () => {
    const { text } = approvalMessage(requestView({ reason: INJECTION, ticket: INJECTION }));
    expect(text).toBe('Access request from <@U1>: read on Production database for 2h');
  });

  it('mentions people by id only', () => {
    const texts = shown(requestView({ requesterId: 'U1', decisions: [approve('U2')], requiredApprovals: 2 }));
    expect(texts).toContain('<@U1>');
    expect(texts).toContain('<@U2>');
  });
});

describe('approvalMessage: what approvers see', () => {
  it('lists requester, resource, role, duration and ticket as fields, then the reason', () => {
    const [header, details, reason] = approvalMessage(requestView()).blocks as AnyBlock[];
    expect(header).toMatchObject({ type: 'header', text: { text: 'Access request' } });
    expect(details?.fields.map((field: AnyBlock) => field.text)).toEqual(
      expect.arrayContaining([
        '*Requester*\n<@U1>',
        '*Resource*\nProduction database (`prod-db`)',
        '*Role*\n`read`',
        '*Duration*\n2h',
        '*Ticket*\nINC-7',
      ]),
    );
    expect(reason).toMatchObject({ type: 'section', text: { type: 'mrkdwn', text: '*Reason*\nInvestigate the invoice job' } });
  });

  it('says when access starts for a request with a later start, and nothing about it otherwise', () => {
    const fields = (view: RequestView) => ((approvalMessage(view).blocks[1] as AnyBlock).fields as AnyBlock[]).map((field) => field.text as string);
    const later = fields(requestView({ startsAt: new Date('2024-05-01T22:00:00Z') }));
    expect(later.find((field) => field.startsWith('*Starts*'))).toContain('<!date^1714600800^');
    expect(fields(requestView({ startsAt: null })).some((field) => field.startsWith('*Starts*'))).toBe(false);
  });

  it('shows approvers of a request for more time how much more, and when the access ends now', () => {
    const extension = { extendsRequestId: '01900000-0000-7000-8000-000000000001', currentEnd: new Date('2024-05-01T12:30:00Z') };
    const [header, details] = approvalMessage(requestView({ extension, durationSeconds: 3600 })).blocks as AnyBlock[];
    expect(header?.text.text).toBe('Request for more time');
    const fields = details?.fields.map((field: AnyBlock) => field.text as string);
    expect(fields).toContain('*More time*\n+1h');
    expect(fields.find((field: string) => field.startsWith('*Access ends*'))).toContain('<!date^1714566600^');
    expect(fields.some((field: string) => field.startsWith('*Duration*'))).toBe(false);
  });

  it('says until when extended access lasts, and that a grant ended under its extension did not end the access', () => {
    const continuedUntil = new Date('2024-05-01T14:30:00Z');
    expect(shown(requestView({ state: 'active', continuedUntil }))).toContain(', extended until <!date^1714573800^');
    const ended = shown(requestView({ state: 'revoked', continuedUntil }));
    expect(ended).toContain('*This grant ended*');
    expect(ended).toContain('continues under the extension, extended until <!date^1714573800^');
  });

  it('lists each risk flag with its signal and explanation, after the reason, and nothing when there are none', () => {
    const flagged = requestView({
      riskFlags: [
        { signal: 'first-request', explanation: 'First request for this resource by this person.' },
        { signal: 'recent-denial', explanation: 'The same request was denied in the last 7 days.' },
      ],
    });
    const blocks = approvalMessage(flagged).blocks as AnyBlock[];
    expect(textsOf([blocks[3]!]).join('\n')).toBe(
      '*Risk flags (2)*\n⚠️ *first-request*: First request for this resource by this person.\n⚠️ *recent-denial*: The same request was denied in the last 7 days.',
    );
    expect(shown(requestView({ riskFlags: [] }))).not.toContain('Risk flags');
    expect(shown(requestView())).not.toContain('Risk flags');
  });

  it('escapes what a stored flag says, whatever the row holds', () => {
    expect(shown(requestView({ riskFlags: [{ signal: '<!channel>', explanation: '<https://evil.example|click>' }] }))).toContain('&lt;!channel&gt;');
    expect(shown(requestView({ riskFlags: [{ signal: '<!channel>', explanation: '<https://evil.example|click>' }] }))).not.toContain('<https://evil');
  });

  it('shows a dash when there is no ticket', () => {
    const details = approvalMessage(requestView({ ticket: null })).blocks[1] as AnyBlock;
    expect(details.fields.map((field: AnyBlock) => field.text)).toContain('*Ticket*\n—');
  });

  it.each(ALL_STATES.filter((state) => state !== 'pending'))('names the state in the header once %s', (state) => {
    expect((approvalMessage(requestView({ state })).blocks[0] as AnyBlock).text.text).toBe(`Access request — ${state}`);
  });
});

describe('approvalMessage: buttons', () => {
  it.each(ALL_STATES.map((state) => ({ state, buttons: state === 'pending' || state === 'active' })))('$state: buttons shown: $buttons', ({ state, buttons }) => {
    expect(actionsOf(requestView({ state }))).toHaveLength(buttons ? 1 : 0);
  });

  it('offers "Revoke now" on active access, carrying the request id, behind a confirmation', () => {
    const [actions] = actionsOf(requestView({ state: 'active' }));
    expect(actions?.elements).toEqual([
      expect.objectContaining({ type: 'button', action_id: END_ACCESS, style: 'danger', text: expect.objectContaining({ text: 'Revoke now' }), value: REQUEST_ID, confirm: expect.any(Object) }),
    ]);
  });

  it('offers Approve, Approve with changes and Deny whose value is the request id and nothing else', () => {
    const [actions] = actionsOf(requestView());
    expect(actions?.elements).toEqual([
      expect.objectContaining({ type: 'button', action_id: APPROVE, style: 'primary', text: expect.objectContaining({ text: 'Approve' }), value: REQUEST_ID }),
      expect.objectContaining({ type: 'button', action_id: APPROVE_WITH_CHANGES, text: expect.objectContaining({ text: 'Approve with changes…' }), value: REQUEST_ID }),
      expect.objectContaining({ type: 'button', action_id: DENY, style: 'danger', text: expect.objectContaining({ text: 'Deny' }), value: REQUEST_ID }),
    ]);
  });
});

describe('approvalMessage: decisions', () => {
  it.each([
    { decisions: [], required: 1, expected: '1 more approval needed' },
    { decisions: [], required: 2, expected: '2 more approvals needed' },
    { decisions: [approve('U2')], required: 2, expected: '1 more approval needed' },
    { decisions: [approve('U2'), approve('U2')], required: 2, expected: '1 more approval needed' },
    { decisions: [approve('U2'), approve('U2'), approve('U3')], required: 3, expected: '1 more approval needed' },
    // The requester's own vote never counts.
    { decisions: [approve('U1')], required: 1, expected: '1 more approval needed' },
  ])('$decisions.length decision(s), $required required → $expected', ({ decisions, required, expected }) => {
    expect(contextText(requestView({ decisions, requiredApprovals: required }))).toContain(expected);
  });

  it('lists each approver once and every denial with its comment', () => {
    const text = contextText(requestView({ state: 'denied', decisions: [approve('U2'), approve('U2'), deny('U3', 'not during the freeze')] }));
    expect(text).toBe('✅ <@U2> approved\n⛔ <@U3> denied: not during the freeze');
  });

  it('says when a pending request expires, and nothing about counts once it has ended', () => {
    expect(contextText(requestView())).toContain('Expires if nobody decides by <!date^1714561200^');
    expect(contextText(requestView({ state: 'approved', decisions: [approve('U2')] }))).not.toContain('needed');
  });
});

function grantView(overrides: Partial<GrantView> = {}): GrantView {
  return { grantedAt: new Date('2024-05-01T10:30:00Z'), expiresAt: new Date('2024-05-01T11:30:00Z'), revokedAt: null, endedBy: null, overdueError: null, ...overrides };
}

describe('approvalMessage: how it ended', () => {
  const decidedAt = new Date('2024-05-01T10:30:00Z');
  // The decision time, labelled by what it is the time of (time first: Slack's pretty date says "today").
  const AT = 'at <!date^1714559400^{time} ({date_short_pretty})|2024-05-01 10:30 UTC>';
  const approvedBy = (approverId: string): DecisionView => ({ approverId, decision: 'approve', comment: null, at: decidedAt, groups: [] });
  const deniedBy = (approverId: string): DecisionView => ({ approverId, decision: 'deny', comment: 'no', at: decidedAt, groups: [] });
  it.each<{ state: RequestStateName; overrides: Partial<RequestView>; expected: string }>([
    { state: 'approved', overrides: {}, expected: `✅ *Approved* ${AT}, access is being granted` },
    { state: 'approved', overrides: { decisions: [approvedBy('U2'), approvedBy('U3'), approvedBy('U2')] }, expected: `✅ *Approved* by <@U2>, <@U3> ${AT}, access is being granted` },
    { state: 'approved', overrides: { decidedByRule: 'read-only-office-hours' }, expected: `✅ *Approved* by policy rule \`read-only-office-hours\` ${AT}, access is being granted` },
    { state: 'approved', overrides: { startsAt: new Date('2024-05-01T22:00:00Z') }, expected: `✅ *Approved* ${AT}, access starts <!date^1714600800^{date_short_pretty} at {time}|2024-05-01 22:00 UTC>` },
    { state: 'active', overrides: {}, expected: `✅ *Approved* ${AT}, access is active` },
    { state: 'active', overrides: { grant: grantView() }, expected: `✅ *Approved* ${AT}, access is active until <!date^1714563000^{date_short_pretty} at {time}|2024-05-01 11:30 UTC>` },
    {
      // A target whose sessions outlive the access by an hour: 11:30 + 1h.
      state: 'active',
      overrides: { grant: grantView({ effectiveEndLagSeconds: 3600 }) },
      expected: `✅ *Approved* ${AT}, access is active until <!date^1714563000^{date_short_pretty} at {time}|2024-05-01 11:30 UTC>; sessions already started can work until <!date^1714566600^{date_short_pretty} at {time}|2024-05-01 12:30 UTC>`,
    },
    {
      state: 'active',
      overrides: { grant: grantView({ expiresAt: new Date('2024-05-01T10:00:00Z'), overdueError: 'connect <ECONNREFUSED>' }) },
      expected: `✅ *Approved* ${AT}, access is active until <!date^1714557600^{date_short_pretty} at {time}|2024-05-01 10:00 UTC>\n🚨 *Revocation overdue*: Latch keeps retrying. Last error: connect &lt;ECONNREFUSED&gt;`,
    },
    { state: 'revoked', overrides: {}, expected: `⏹️ *Access ended*\nApproved ${AT}` },
    {
      state: 'revoked',
      overrides: { decisions: [approvedBy('U2')], outcomeReason: 'Ended early by the requester.', grant: grantView({ revokedAt: new Date('2024-05-01T10:45:00Z'), endedBy: 'U1' }) },
      expected: `⏹️ *Access ended* <!date^1714560300^{date_short_pretty} at {time}|2024-05-01 10:45 UTC>: Ended early by the requester. (<@U1>)\nApproved by <@U2> ${AT}`,
    },
    { state: 'denied', overrides: { outcomeReason: 'Use the replica' }, expected: `⛔ *Denied* ${AT}: Use the replica` },
    { state: 'denied', overrides: { decisions: [approvedBy('U3'), deniedBy('U2')] }, expected: `⛔ *Denied* by <@U2> ${AT}` },
    { state: 'cancelled', overrides: { decidedAt: null }, expected: '🚫 *Cancelled* by the requester' },
    { state: 'cancelled', overrides: { outcomeReason: 'Cancelled by a security admin before access began.' }, expected: `🚫 *Cancelled*: Cancelled by a security admin before access began.\nApproved ${AT}` },
    { state: 'expired', overrides: { decidedAt: null }, expected: '⌛ *Expired*: nobody decided in time' },
    { state: 'failed', overrides: { outcomeReason: 'provider refused: role does not exist' }, expected: `⚠️ *Failed*: provider refused: role does not exist\nApproved ${AT}` },
  ])('$state $overrides → $expected', ({ state, overrides, expected }) => {
    const blocks = approvalMessage(requestView({ state, decidedAt, ...overrides })).blocks as AnyBlock[];
    const status = blocks.filter((block) => block.type !== 'actions').at(-1);
    expect(status?.type).toBe('section');
    expect(status?.text.text).toBe(expected);
  });

  it('has no status line while pending', () => {
    expect(shown(requestView())).not.toMatch(/\*(Approved|Denied|Expired|Failed|Cancelled)\*/);
  });
});

describe('approvalMessage: Slack limits', () => {
  function expectWithinLimits(blocks: readonly AnyBlock[]): void {
    expect(blocks.length).toBeLessThanOrEqual(50);
    for (const block of blocks) {
      if (block.text) expect(block.text.text.length).toBeLessThanOrEqual(3000);
      if (block.fields) {
        expect(block.fields.length).toBeLessThanOrEqual(10);
        for (const field of block.fields) expect(field.text.length).toBeLessThanOrEqual(2000);
      }
      for (const element of block.elements ?? []) if (element.text?.text) expect(element.text.text.length).toBeLessThanOrEqual(3000);
      for (const element of block.type === 'context' ? block.elements : []) expect(element.text.length).toBeLessThanOrEqual(3000);
    }
  }

  it('fits a 5000-character reason into a 3000-character section, cut with …', () => {
    const blocks = approvalMessage(requestView({ reason: 'x'.repeat(5000) })).blocks as AnyBlock[];
    const reason = blocks[2]?.text.text as string;
    expect(reason.length).toBeLessThanOrEqual(3000);
    expect(reason.startsWith('*Reason*\nxxx')).toBe(true);
    expect(reason.endsWith('…')).toBe(true);
    expectWithinLimits(blocks);
  });

  it('fits a reason made of characters that grow when escaped', () => {
    expectWithinLimits(approvalMessage(requestView({ reason: '<'.repeat(5000), ticket: '&'.repeat(2000) })).blocks as AnyBlock[]);
  });

  it('fits very long policy names and outcome reasons', () => {
    const long = 'n'.repeat(5000);
    expectWithinLimits(
      approvalMessage(requestView({ state: 'failed', resourceName: long, resourceId: long, role: long, outcomeReason: long, decidedByRule: long }))
        .blocks as AnyBlock[],
    );
  });

  it('stays well under the ~13k characters Slack refuses, with every field at its worst', () => {
    const long = '&'.repeat(5000);
    const decisions = Array.from({ length: 300 }, (_, index) => ({ ...approve(`U${index + 100}`), comment: long }));
    const message = approvalMessage(
      requestView({ state: 'denied', resourceName: long, resourceId: long, role: long, reason: long, ticket: long, outcomeReason: long, decidedByRule: long, decisions }),
    );
    expectWithinLimits(message.blocks as AnyBlock[]);
    expect(textsOf(message.blocks).join('').length).toBeLessThan(12_000);
  });

  it('fits hundreds of decisions, counting the ones it leaves out, and keeps the count needed', () => {
    const decisions = Array.from({ length: 300 }, (_, index) => approve(`U${index + 100}`, 'looks fine to me, '.repeat(5)));
    const view = requestView({ decisions, requiredApprovals: 500 });
    const blocks = approvalMessage(view).blocks as AnyBlock[];
    expectWithinLimits(blocks);
    expect(contextText(view)).toMatch(/…and \d+ more/);
    expect(contextText(view)).toContain('200 more approvals needed');
  });
});

describe('approvalMessage: binding a click to what was shown', () => {
  it('names the revision in the buttons’ block_id, and reads it back', () => {
    const [actions] = actionsOf(requestView({ revision: 3 })) as Array<{ block_id: string }>;
    expect(actions!.block_id).toBe('latch_approval_actions:r3');
    expect(revisionOfApprovalBlock(actions!.block_id)).toBe(3);
  });

  it.each([undefined, 'latch_approval_actions', 'latch_approval_actions:r', 'latch_approval_actions:rx', 'other:r3'])(
    'reads no revision from %j',
    (blockId) => {
      expect(revisionOfApprovalBlock(blockId)).toBeUndefined();
    },
  );
});

describe('approvalMessage: the account', () => {
  it('names the account that will hold the access, escaped, when known', () => {
    expect(shown(requestView({ principal: 'ada<!here>' }))).toContain('*As*\n`ada&lt;!here&gt;`');
    expect(shown(requestView({ principal: null }))).not.toContain('*As*');
  });
});

describe('the reply in the approval thread when granting failed', () => {
  it('says the request failed, with the stored reason escaped in the text and the blocks', () => {
    const reply = grantFailedReply(requestView({ state: 'failed', outcomeReason: INJECTION }));
    expect(reply.text).toBe(`⚠️ Latch could not grant this access, and the request is failed. ${INJECTION_ESCAPED}`);
    expect(JSON.stringify(reply)).not.toContain('<!channel>');
    expect(grantFailedReply(requestView({ state: 'failed', outcomeReason: null })).text).toBe('⚠️ Latch could not grant this access, and the request is failed.');
  });
});

describe('on-call on the approval card (issue 20)', () => {
  it('says when on-call could not be checked and people decide, escaped', () => {
    const text = shown(requestView({ onCallNote: "On-call could not be checked: PagerDuty is limiting Latch's requests (429 rate limit)" }));
    expect(text).toContain("⚠️ On-call could not be checked: PagerDuty is limiting Latch's requests (429 rate limit). People decide this request, not the on-call rule.");
    expect(shown(requestView({ onCallNote: `On-call could not be checked: ${INJECTION}` }))).toContain(INJECTION_ESCAPED);
    expect(shown(requestView())).not.toContain('On-call');
  });

  it('tells approvers that whoever is on call may decide too, while the request waits', () => {
    expect(shown(requestView({ onCallApprovers: 'schedule PSCHED1 in PagerDuty' }))).toContain('📟 Whoever is on call now for schedule PSCHED1 in PagerDuty may decide too');
    expect(shown(requestView({ state: 'approved', onCallApprovers: 'schedule PSCHED1 in PagerDuty' }))).not.toContain('Whoever is on call');
  });
});

describe('a scoped request', () => {
  it('shows exactly the scope asked for, beside the role and in the notification text', () => {
    const message = approvalMessage(requestView({ role: 'debug', scope: { customer: ['4711', '4712'], tables: ['public.orders'] } }));
    const fields = (message.blocks as AnyBlock[]).flatMap((block) => (block.fields ?? []).map((field: { text: string }) => field.text));
    expect(fields).toContain('*Scope*\ncustomer 4711, 4712 · tables public.orders');
    expect(message.text).toContain('debug (customer 4711, 4712 · tables public.orders) on');
  });

  it('escapes a scope value like any text a person typed', () => {
    const message = approvalMessage(requestView({ role: 'debug', scope: { note: [INJECTION] } }));
    expect(JSON.stringify(message)).not.toContain(INJECTION);
    expect(JSON.stringify(message.blocks)).toContain(JSON.stringify(INJECTION_ESCAPED).slice(1, -1));
  });

  it('shows no scope line for an unscoped request', () => {
    const fields = (approvalMessage(requestView()).blocks as AnyBlock[]).flatMap((block) => (block.fields ?? []).map((field: { text: string }) => field.text));
    expect(fields.some((text: string) => text.startsWith('*Scope*'))).toBe(false);
  });
});
