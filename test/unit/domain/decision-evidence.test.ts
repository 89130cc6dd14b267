import { describe, expect, it } from 'vitest';
import { checkDecisionEvidence, slackSignature, type EvidenceEvent, type EvidenceRules } from '../../../src/domain/decision-evidence.ts';
import { decisionInteractions } from '../../../src/slack/decision-interactions.ts';
import { interactionBody } from '../../../tools/sandbox/slack-signing.ts';

const SECRET = 'unit-signing-secret';
const REQUEST = '01930000-0000-7000-8000-000000000001';
const AT = new Date(Date.UTC(2026, 11, 3, 9, 0, 0));
const TIMESTAMP = String(AT.getTime() / 1000 - 1);
const rules: EvidenceRules = { evidenceStartsAfter: 10n, signingSecret: SECRET, interactions: decisionInteractions };

function click(userId: string, actionId: string, requestId: string) {
  const rawBody = Buffer.from(interactionBody({ type: 'block_actions', user: { id: userId }, actions: [{ action_id: actionId, value: requestId }] }));
  return { rawBody, slackTimestamp: TIMESTAMP, slackSignature: slackSignature(SECRET, TIMESTAMP, rawBody) };
}

const approval = (overrides: Partial<EvidenceEvent> = {}): EvidenceEvent => ({
  seq: 11n,
  at: AT,
  actor: 'U0APP',
  action: 'approval.recorded',
  requestId: REQUEST,
  data: { decision: 'approve', revision: 1, transport: 'http' },
  ...overrides,
});

describe('checking a decision against the signed Slack request kept with it', () => {
  it('accepts the approver’s own signed click on Approve for that request', () => {
    expect(checkDecisionEvidence(approval(), click('U0APP', 'latch_approve', REQUEST), rules)).toEqual({ kind: 'signed', signatureChecked: true });
  });

  it.each([
    ['an edited body', { ...click('U0APP', 'latch_approve', REQUEST), rawBody: click('U0SEC', 'latch_approve', REQUEST).rawBody }, /signature does not verify/],
    ['another person’s click', click('U0SEC', 'latch_approve', REQUEST), /another person \(U0SEC\)/],
    ['another button', click('U0APP', 'latch_cancel', REQUEST), /another action \(latch_cancel\)/],
    ['another request', click('U0APP', 'latch_approve', '01930000-0000-7000-8000-000000000002'), /another request/],
    ['no evidence at all', null, /has no evidence/],
  ])('refuses %s', (_what, evidence, message) => {
    expect(checkDecisionEvidence(approval(), evidence, rules)).toEqual({ kind: 'problem', message: expect.stringMatching(message) });
  });

  it('accepts a denial from the deny-reason form the approver submitted for that request', () => {
    const rawBody = Buffer.from(interactionBody({ type: 'view_submission', user: { id: 'U0APP' }, view: { callback_id: 'latch_deny_modal', private_metadata: REQUEST } }));
    const evidence = { rawBody, slackTimestamp: TIMESTAMP, slackSignature: slackSignature(SECRET, TIMESTAMP, rawBody) };
    const denial = approval({ data: { decision: 'deny', comment: 'no ticket', revision: 1, transport: 'http' } });
    expect(checkDecisionEvidence(denial, evidence, rules)).toEqual({ kind: 'signed', signatureChecked: true });
    // The same form cannot stand for an approval.
    expect(checkDecisionEvidence(approval(), evidence, rules)).toMatchObject({ kind: 'problem', message: expect.stringMatching(/another action \(latch_deny_modal\)/) });
  });

  it('refuses evidence signed long before the decision (a replayed click)', () => {
    const verdict = checkDecisionEvidence(approval({ at: new Date(AT.getTime() + 3600_000) }), click('U0APP', 'latch_approve', REQUEST), rules);
    expect(verdict).toMatchObject({ kind: 'problem', message: expect.stringMatching(/signed at another time/) });
  });

  it('tells unsigned decisions apart: Socket Mode, before evidence began, and none recorded since', () => {
    expect(checkDecisionEvidence(approval({ data: { decision: 'approve', transport: 'socket-mode' } }), null, rules)).toEqual({ kind: 'unsigned', why: 'socket-mode' });
    expect(checkDecisionEvidence(approval({ seq: 10n, data: { decision: 'approve' } }), null, rules)).toEqual({ kind: 'unsigned', why: 'predates-evidence' });
    expect(checkDecisionEvidence(approval({ data: { decision: 'approve' } }), null, rules)).toMatchObject({ kind: 'problem', message: expect.stringMatching(/no signed Slack request records it/) });
  });

  it('asks nothing of what Latch or a policy rule did, and accepts a chain ended by one click', () => {
    expect(checkDecisionEvidence(approval({ actor: 'policy:low-risk', action: 'request.approved' }), null, rules)).toEqual({ kind: 'not-a-decision' });
    const endedWith = '01930000-0000-7000-8000-000000000009';
    const chained = approval({ actor: 'U0REQ', action: 'grant.end_requested', data: { endedWith, transport: 'http' } });
    expect(checkDecisionEvidence(chained, click('U0REQ', 'latch_end_access', endedWith), rules)).toEqual({ kind: 'signed', signatureChecked: true });
  });

  describe('one "Approve all" click on a bundle’s card', () => {
    const card = '01930000-0000-7000-8000-000000000009';
    const item = approval({ data: { decision: 'approve', revision: 1, approvedAllOf: card, transport: 'http' } });
    // As the chain says: the item's first request.created (event 5) put it in the card's bundle, before the click was first used (event 11).
    const itemOfCard = { itemOf: { bundleId: card, createdSeq: 5n }, clickFirstSeq: 11n };

    it('is the evidence of each item’s vote, and only that click', () => {
      expect(checkDecisionEvidence(item, click('U0APP', 'latch_approve_all', card), rules, itemOfCard)).toEqual({ kind: 'signed', signatureChecked: true });
      expect(checkDecisionEvidence({ ...item, action: 'request.approved' }, click('U0APP', 'latch_approve_all', card), rules, itemOfCard)).toEqual({ kind: 'signed', signatureChecked: true });
      // The card's own item: its bundle is named by its own id.
      const cardItem = { ...item, requestId: card };
      expect(checkDecisionEvidence(cardItem, click('U0APP', 'latch_approve_all', card), rules, itemOfCard)).toEqual({ kind: 'signed', signatureChecked: true });
      // The card item's own Approve is not a vote on the other items, nor "Approve all" a vote outside a bundle.
      expect(checkDecisionEvidence(item, click('U0APP', 'latch_approve', card), rules, itemOfCard)).toMatchObject({ kind: 'problem', message: expect.stringMatching(/another action \(latch_approve\)/) });
      expect(checkDecisionEvidence(approval(), click('U0APP', 'latch_approve_all', REQUEST), rules)).toMatchObject({ kind: 'problem', message: expect.stringMatching(/another action \(latch_approve_all\)/) });
      expect(checkDecisionEvidence(item, click('U0APP', 'latch_approve_all', '01930000-0000-7000-8000-000000000002'), rules, itemOfCard)).toMatchObject({ kind: 'problem', message: expect.stringMatching(/another request/) });
      // An "Approve all" click on the vote's own request (a card too) does not stand for the card it claims.
      expect(checkDecisionEvidence(item, click('U0APP', 'latch_approve_all', REQUEST), rules, itemOfCard)).toMatchObject({ kind: 'problem', message: expect.stringMatching(/another request \(01930000-0000-7000-8000-000000000001\)/) });
    });

    it.each([
      ['a request the chain puts in no bundle', { itemOf: null, clickFirstSeq: 11n }, /on a request that is not an item of its card \(01930000-0000-7000-8000-000000000009\)/],
      ['a request of another bundle', { itemOf: { bundleId: REQUEST, createdSeq: 5n }, clickFirstSeq: 11n }, /on a request that is not an item of its card/],
      ['nothing known of the request (no facts given)', undefined, /on a request that is not an item of its card/],
      ['a request created after the click was first used (appended afterwards, naming the card)', { itemOf: { bundleId: card, createdSeq: 12n }, clickFirstSeq: 11n }, /on a request created \(event 12\) after that click was first used \(event 11\)/],
    ])('is no evidence of a vote on %s', (_what, facts, message) => {
      expect(checkDecisionEvidence(item, click('U0APP', 'latch_approve_all', card), rules, facts)).toEqual({ kind: 'problem', message: expect.stringMatching(message) });
    });
  });
});

describe('a machine in the audit trail', () => {
  it('ends its own access with its token, not a Slack click: no evidence is asked of it', () => {
    const ended = approval({ actor: 'machine:deploy-pipeline', action: 'grant.end_requested', data: { reason: 'ended early by the requester' } });
    expect(checkDecisionEvidence(ended, null, rules)).toEqual({ kind: 'not-a-decision' });
  });

  it('is reported when recorded as deciding: only a person’s signed click can approve', () => {
    expect(checkDecisionEvidence(approval({ actor: 'machine:deploy-pipeline', data: { decision: 'approve', revision: 1 } }), null, rules)).toEqual({ kind: 'problem', message: expect.stringMatching(/has no evidence/) });
  });
});

describe("a person's terminal (`latch login`) in the audit trail", () => {
  const tokenId = '01930000-0000-7000-8000-00000000000a';

  it('ends their own access with the login token, not a Slack click: no evidence is asked of it', () => {
    const ended = approval({ actor: 'U0REQ', action: 'grant.end_requested', data: { reason: 'ended early by the requester', tokenId } });
    expect(checkDecisionEvidence(ended, null, rules)).toEqual({ kind: 'not-a-decision' });
  });

  it('is reported when an approval names a token: a person approves only with a signed click', () => {
    const approved = approval({ actor: 'U0APPROVER', data: { decision: 'approve', revision: 1, tokenId } });
    expect(checkDecisionEvidence(approved, null, rules)).toEqual({ kind: 'problem', message: expect.stringMatching(/has no evidence/) });
  });
});
