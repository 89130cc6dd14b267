import { afterEach, describe, expect, it } from 'vitest';
import type { ResourcePolicy } from '../../../src/domain/policy.ts';
import { announceMissedRequests } from '../../../src/services/announce-missed-requests.ts';
import { appendAuditEvent } from '../../../src/store/audit-log.ts';
import { inTransaction } from '../../../src/store/transaction.ts';
import { verifyAuditRecords } from '../../../src/services/verify-audit-records.ts';
import { decisionInteractions } from '../../../src/slack/decision-interactions.ts';
import {
  APPROVE,
  APPROVE_ALL,
  DENY,
  DENY_REASON_ACTION,
  DENY_REASON_BLOCK,
  REQUEST_ALSO_ACTION,
  REQUEST_ALSO_BLOCK,
  REQUEST_DURATION_ACTION,
  REQUEST_DURATION_BLOCK,
  REQUEST_REASON_ACTION,
  REQUEST_REASON_BLOCK,
  REQUEST_RESOURCE_ACTION,
  REQUEST_RESOURCE_BLOCK,
  REQUEST_ROLE_ACTION,
} from '../../../src/slack/blocks/ids.ts';
import { asOpenView, LatchHarness, selected, SIGNING_SECRET, textInput } from '../../helpers/latch-harness.ts';
import { MemoryProvider } from '../../helpers/memory-provider.ts';
import { testAutoApprovalRule, testPolicy, testResource } from '../../helpers/test-policy.ts';

/**
 * Issue 20, one request for many resources, through the real Bolt app with only Slack faked: one
 * card for every item, "Approve all" or a decision item by item, each item its own grant and
 * audit trail, and a refusal of one item refusing the whole request with nothing written.
 */
const REQUESTER = 'U0REQUESTER';
const APPROVER1 = 'U0APPROVER1';
const APPROVER2 = 'U0APPROVER2';
const APPROVER3 = 'U0APPROVER3';
const identity = { map: { [REQUESTER]: 'alice' }, from: 'map-only' as const, template: '{email}' };

function billing(overrides: Partial<ResourcePolicy> = {}): ResourcePolicy {
  return testResource({
    id: 'billing-db',
    name: 'Billing database',
    identity,
    roles: [{ id: 'admin', description: 'Everything', maxDurationSeconds: 4 * 3600 }],
    approvalChannel: 'C0BILLING',
    ...overrides,
  });
}
const prodDb = (overrides: Partial<ResourcePolicy> = {}) => testResource({ identity, ...overrides });

let h: LatchHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

type Call = { args: Record<string, unknown> };
const text = (call: Call) => JSON.stringify(call.args.blocks ?? call.args.text);
const actionIds = (call: Call) =>
  ((call.args.blocks ?? []) as Array<{ type: string; elements?: Array<{ action_id?: string }> }>).filter((b) => b.type === 'actions').flatMap((b) => (b.elements ?? []).map((e) => e.action_id));
const blockIdOf = (call: Call, actionId: string, value: string) =>
  ((call.args.blocks ?? []) as Array<{ type: string; block_id?: string; elements?: Array<{ action_id?: string; value?: string }> }>).find((b) => b.type === 'actions' && b.elements?.some((e) => e.action_id === actionId && e.value === value))?.block_id;

/** Asks for both through the inline list and gives back the items (in the order asked) and the card as posted. */
async function askForBoth(harness: LatchHarness, cardChannel: string): Promise<{ items: Array<{ id: string; resourceId: string }>; card: Call }> {
  expect((await harness.command(REQUESTER, 'prod-db:read,billing-db:admin 2h restoring the invoices', 'ask-both')).status).toBe(200);
  const answer = await harness.slack.waitForCall('response_url', (c) => c.args.id === 'ask-both');
  expect(answer.args.text).toContain('Request for 2 resources sent');
  const card = await harness.slack.waitForCall('chat.postMessage', (c) => c.args.channel === cardChannel);
  const items = await harness.db.accessRequest.findMany({ where: { requesterSlackId: REQUESTER }, orderBy: { bundlePosition: 'asc' } });
  await waitFor(async () => (await harness.db.accessRequest.count({ where: { approvalMessageTs: null } })) === 0);
  return { items: items.map(({ id, resourceId }) => ({ id, resourceId })), card };
}

const stateOf = async (harness: LatchHarness, id: string) => (await harness.db.accessRequest.findUniqueOrThrow({ where: { id } })).state;
const lastCardUpdate = (harness: LatchHarness, channel: string) => harness.slack.callsTo('chat.update').filter((c) => c.args.channel === channel).at(-1)!;

describe('one request for several resources', () => {
  it('posts one card for both items; "Approve all" approves each, and each is granted as its own grant with its own audit trail', async () => {
    const provider = new MemoryProvider();
    h = await LatchHarness.start(testPolicy([prodDb(), billing()]), { provider });
    const { items, card } = await askForBoth(h, 'C0APPROVALS');
    expect(items.map((item) => item.resourceId)).toEqual(['prod-db', 'billing-db']);
    // Both items point at the card's item (the first, on a tie of one approval each).
    const rows = await h.db.accessRequest.findMany({ where: { requesterSlackId: REQUESTER }, orderBy: { bundlePosition: 'asc' } });
    expect(rows.map((row) => [row.bundleId, row.bundlePosition, row.durationSeconds, row.reason])).toEqual([
      [items[0]!.id, 0, 7200, 'restoring the invoices'],
      [items[0]!.id, 1, 7200, 'restoring the invoices'],
    ]);
    // One card, in the strictest item's channel (a tie: the first's), naming both; none in billing's own channel.
    expect(text(card)).toContain('Production database');
    expect(text(card)).toContain('Billing database');
    expect(actionIds(card)).toEqual([APPROVE, 'latch_approve_with_changes', DENY, APPROVE, 'latch_approve_with_changes', DENY, APPROVE_ALL]);
    expect(h.slack.callsTo('chat.postMessage').filter((c) => c.args.channel === 'C0BILLING')).toHaveLength(0);
    // One confirmation for the requester, listing both.
    const confirmations = h.slack.callsTo('chat.postMessage').filter((c) => c.args.channel === REQUESTER);
    expect(confirmations).toHaveLength(1);
    expect(text(confirmations[0]!)).toContain('2 resources');

    await h.click(APPROVER1, APPROVE_ALL, items[0]!.id, 'C0APPROVALS', blockIdOf(card, APPROVE_ALL, items[0]!.id));
    await waitFor(async () => (await h!.db.grant.count({ where: { grantedAt: { not: null } } })) === 2);
    expect(provider.holds('alice', 'read')).toBe(true);
    expect(provider.holds('alice', 'admin')).toBe(true);
    for (const item of items) {
      await waitFor(async () => (await stateOf(h!, item.id)) === 'active');
      const actions = (await h.db.auditEvent.findMany({ where: { requestId: item.id }, orderBy: { seq: 'asc' } })).map((event) => event.action);
      expect(actions.slice(0, 3)).toEqual(['request.created', 'approval.recorded', 'request.approved']);
      expect(actions).toContain('grant.granted');
    }
    // Each item's vote carries the signed "Approve all" click as its evidence, which the audit check accepts.
    const report = await verifyAuditRecords(h.db, { signingSecret: SIGNING_SECRET, interactions: decisionInteractions });
    expect(report.decisions.problems).toEqual([]);
    // The card shows both active, with no approval buttons left.
    await waitFor(() => {
      const update = lastCardUpdate(h!, 'C0APPROVALS');
      return update !== undefined && !actionIds(update).includes(APPROVE) && (text(update).match(/access is active/g) ?? []).length === 2;
    });
  });

  it('takes an "Approve all" click as evidence only for the items of its card: a vote appended on another request with it is reported', async () => {
    // A live clock, as Slack signs with the real time.
    h = await LatchHarness.start(testPolicy([prodDb(), billing(), testResource({ id: 'ledger', name: 'Ledger', identity })]), { provider: new MemoryProvider() });
    const { items, card: posted } = await askForBoth(h, 'C0APPROVALS');
    const card = items[0]!.id;
    // Another request of the same person, on its own (no bundle), still waiting.
    h.slack.reset();
    await h.command(REQUESTER, 'ledger read 1h closing the quarter', 'ask-ledger');
    await h.slack.waitForCall('chat.postMessage', (c) => c.args.channel === 'C0APPROVALS');
    const other = await h.db.accessRequest.findFirstOrThrow({ where: { resourceId: 'ledger' } });
    await h.click(APPROVER1, APPROVE_ALL, card, 'C0APPROVALS', blockIdOf(posted, APPROVE_ALL, card));
    await waitFor(async () => (await h!.db.grant.count({ where: { grantedAt: { not: null } } })) === 2);
    // The real signed click, as kept with an item's vote, and the click's one moment.
    const vote = await h.db.auditEvent.findFirstOrThrow({ where: { requestId: items[1]!.id, action: 'approval.recorded' } });
    const click = await h.db.decisionEvidence.findUniqueOrThrow({ where: { seq: vote.seq } });
    const evidence = { transport: 'http' as const, rawBody: click.rawBody, timestamp: click.slackTimestamp, signature: click.slackSignature };
    const forgedVote = (requestId: string) => ({ actor: APPROVER1, action: 'approval.recorded', requestId, at: vote.at, data: { decision: 'approve', revision: 1, approvedAllOf: card }, evidence });
    // Someone holding DATABASE_URL (the app role may INSERT audit events) appends with valid hashes:
    // the click behind a vote on the unrelated request, claiming it came through the card;
    await inTransaction(h.db, (tx) => appendAuditEvent(tx, forgedVote(other.id)));
    const onOther = await h.db.auditEvent.findFirstOrThrow({ orderBy: { seq: 'desc' } });
    // and a request made up afterwards, its request.created naming the card's bundle, with such a vote.
    const madeUp = await h.db.accessRequest.create({ data: { requesterSlackId: REQUESTER, resourceId: 'ledger', role: 'read', durationSeconds: 3600, reason: 'x', bundleId: card, bundlePosition: 2 } });
    await inTransaction(h.db, async (tx) => {
      await appendAuditEvent(tx, { actor: REQUESTER, action: 'request.created', requestId: madeUp.id, at: vote.at, data: { resourceId: 'ledger', role: 'read', bundle: { id: card, position: 2 } } });
      await appendAuditEvent(tx, forgedVote(madeUp.id));
    });
    const onMadeUp = await h.db.auditEvent.findFirstOrThrow({ orderBy: { seq: 'desc' } });

    const report = await verifyAuditRecords(h.db, { signingSecret: SIGNING_SECRET, interactions: decisionInteractions });
    expect(report.decisions.problems).toEqual([
      expect.stringMatching(new RegExp(`^event ${onOther.seq} \\(approval.recorded by ${APPROVER1}\\) has evidence of "Approve all" on a request that is not an item of its card \\(${card}\\)$`)),
      expect.stringMatching(new RegExp(`^event ${onMadeUp.seq} \\(approval.recorded by ${APPROVER1}\\) has evidence of "Approve all" on a request created \\(event ${onMadeUp.seq - 1n}\\) after that click was first used \\(event \\d+\\)$`)),
    ]);
    // The real votes of both items, the card's own among them, still count as signed.
    expect(report.decisions.signed).toBe(4);
  });

  it('decides item by item: one approved, the other denied with a reason, each on its own', async () => {
    h = await LatchHarness.start(testPolicy([prodDb(), billing()]));
    const { items, card } = await askForBoth(h, 'C0APPROVALS');
    const [prod, bill] = [items[0]!, items[1]!];
    await h.click(APPROVER1, APPROVE, prod.id, 'C0APPROVALS', blockIdOf(card, APPROVE, prod.id));
    await waitFor(async () => (await stateOf(h!, prod.id)) === 'approved');
    expect(await stateOf(h, bill.id)).toBe('pending');
    expect(h.granted).toEqual([prod.id]);

    await h.click(APPROVER2, DENY, bill.id, 'C0APPROVALS', blockIdOf(card, DENY, bill.id));
    const open = await h.slack.waitForCall('views.open');
    const response = await h.submit(APPROVER2, asOpenView(open.args.view as Record<string, unknown>, { [DENY_REASON_BLOCK]: { [DENY_REASON_ACTION]: textInput('billing is frozen this week') } }));
    expect(response.status).toBe(200);
    await waitFor(async () => (await stateOf(h!, bill.id)) === 'denied');
    expect(await stateOf(h, prod.id)).toBe('approved');
    expect(h.granted).toEqual([prod.id]);
    // The requester hears of each item; the card shows both outcomes and no buttons.
    const notice = await h.slack.waitForCall('chat.postMessage', (c) => c.args.channel === REQUESTER && text(c).includes('billing is frozen this week'));
    expect(text(notice)).toContain('Billing database');
    await waitFor(() => {
      const update = lastCardUpdate(h!, 'C0APPROVALS');
      return update !== undefined && actionIds(update).length === 0 && text(update).includes('*Denied*') && text(update).includes('*Approved*');
    });
  });

  it('refuses the whole request, naming the item, when the requester may not ask for one of them; nothing is written', async () => {
    h = await LatchHarness.start(testPolicy([prodDb(), billing({ requesters: { everyone: false, users: ['U0SOMEONEELSE'], groups: [] } })]));
    await h.command(REQUESTER, 'prod-db:read,billing-db:admin 2h restoring the invoices', 'refused');
    const refused = await h.slack.waitForCall('response_url', (c) => c.args.id === 'refused');
    expect(refused.args.text).toContain('Your request was not sent');
    expect(refused.args.text).toContain('billing-db:admin (item 2 of 2)');
    expect(await h.db.accessRequest.count()).toBe(0);
    expect(await h.db.auditEvent.count()).toBe(0);
    expect(h.slack.callsTo('chat.postMessage')).toHaveLength(0);

    // More items than a request may hold, and one asked twice: refused before anything is checked.
    await h.command(REQUESTER, `${Array.from({ length: 11 }, (_, i) => `r${i}:read`).join(',')} 2h too many`, 'too-many');
    expect((await h.slack.waitForCall('response_url', (c) => c.args.id === 'too-many')).args.text).toContain('at most 10');
    await h.command(REQUESTER, 'prod-db:read,prod-db:read 2h twice', 'twice');
    expect((await h.slack.waitForCall('response_url', (c) => c.args.id === 'twice')).args.text).toContain('prod-db:read is asked for twice');
    expect(await h.db.accessRequest.count()).toBe(0);
  });

  it('posts the card where the strictest item is decided; "Approve all" approves what the clicker may, keeps the stricter item pending, and says what it left', async () => {
    const policy = testPolicy([
      prodDb({ approvers: { users: [APPROVER1, APPROVER2], groups: [], required: 1, oneFrom: [] } }),
      billing({ approvers: { users: [APPROVER2, APPROVER3], groups: [], required: 2, oneFrom: [] } }),
    ]);
    h = await LatchHarness.start(policy);
    const { items, card } = await askForBoth(h, 'C0BILLING');
    const [prod, bill] = [items[0]!, items[1]!];
    // The card's item is billing's, the strictest, though it was asked second.
    expect((await h.db.accessRequest.findUniqueOrThrow({ where: { id: prod.id } })).bundleId).toBe(bill.id);
    expect(h.slack.callsTo('chat.postMessage').filter((c) => c.args.channel === 'C0APPROVALS')).toHaveLength(0);
    const approveAll = blockIdOf(card, APPROVE_ALL, bill.id);

    // APPROVER1 approves prod-db only; billing is not theirs to approve, and they are told so.
    await h.click(APPROVER1, APPROVE_ALL, bill.id, 'C0BILLING', approveAll);
    const left = await h.slack.waitForCall('chat.postEphemeral', (c) => c.args.user === APPROVER1);
    expect(left.args.text).toContain('recorded on 1 of 2 waiting items');
    expect(left.args.text).toContain('`billing-db:admin`');
    await waitFor(async () => (await stateOf(h!, prod.id)) === 'approved');
    expect(await stateOf(h, bill.id)).toBe('pending');

    // APPROVER2's "Approve all": one of billing's two approvals, so the card stays pending for it.
    await h.click(APPROVER2, APPROVE_ALL, bill.id, 'C0BILLING', approveAll);
    await waitFor(async () => (await h!.db.approval.count({ where: { requestId: bill.id } })) === 1);
    expect(await stateOf(h, bill.id)).toBe('pending');
    await waitFor(() => {
      const update = lastCardUpdate(h!, 'C0BILLING');
      return update !== undefined && text(update).includes('1 more approval needed') && actionIds(update).includes(APPROVE);
    });

    await h.click(APPROVER3, APPROVE, bill.id, 'C0BILLING', blockIdOf(card, APPROVE, bill.id));
    await waitFor(async () => (await stateOf(h!, bill.id)) === 'approved');
    expect(h.granted.sort()).toEqual([prod.id, bill.id].sort());
  });

  it('refuses an "Approve all" whose list of revisions is not the request\'s, and one from a block Latch did not write', async () => {
    h = await LatchHarness.start(testPolicy([prodDb(), billing()]));
    const { items } = await askForBoth(h, 'C0APPROVALS');
    await h.click(APPROVER1, APPROVE_ALL, items[0]!.id, 'C0APPROVALS', 'latch_bundle_actions:r1');
    expect((await h.slack.waitForCall('chat.postEphemeral', (c) => c.args.user === APPROVER1)).args.text).toContain('changed after you saw it');
    await h.click(APPROVER2, APPROVE_ALL, items[0]!.id, 'C0APPROVALS', 'latch_approval_actions:r1');
    expect((await h.slack.waitForCall('chat.postEphemeral', (c) => c.args.user === APPROVER2)).args.text).toContain('not from a current Latch message');
    expect(await h.db.approval.count()).toBe(0);
  });

  it('takes more pairs from the form\'s "Also request" menu, makes them once however often the form is submitted, and refuses a pair the menu never offered', async () => {
    h = await LatchHarness.start(testPolicy([prodDb(), billing(), testResource({ id: 'hr-db', name: 'HR database', identity, approvalChannel: 'C0HR', requesters: { everyone: false, users: ['U0SOMEONEELSE'], groups: [] } })]));
    await h.command(REQUESTER, '');
    const open = await h.slack.waitForCall('views.open');
    const view = open.args.view as { blocks: Array<{ block_id?: string; element?: { options?: Array<{ value: string }> } }> };
    // Every pair the requester may ask for, and only those.
    expect(view.blocks.find((block) => block.block_id === REQUEST_ALSO_BLOCK)?.element?.options?.map((option) => option.value)).toEqual(['prod-db:read', 'prod-db:write', 'billing-db:admin']);
    const values = (also: string[]) => ({
      [REQUEST_RESOURCE_BLOCK]: { [REQUEST_RESOURCE_ACTION]: selected('prod-db') },
      'latch_request_role:prod-db': { [REQUEST_ROLE_ACTION]: selected('read') },
      [REQUEST_ALSO_BLOCK]: { [REQUEST_ALSO_ACTION]: { type: 'multi_static_select', selected_options: also.map((value) => ({ value })) } },
      [REQUEST_DURATION_BLOCK]: { [REQUEST_DURATION_ACTION]: textInput('1h') },
      [REQUEST_REASON_BLOCK]: { [REQUEST_REASON_ACTION]: textInput('month-end close') },
    });

    // A pair the menu did not offer (the requester may not ask for hr-db): refused on the menu, naming it.
    const forged = await h.submit(REQUESTER, { ...asOpenView(open.args.view as Record<string, unknown>, values(['hr-db:read'])), id: 'V0FORGED' });
    const refusal = (await forged.json()) as { response_action: string; errors: Record<string, string> };
    expect(refusal.response_action).toBe('errors');
    expect(refusal.errors[REQUEST_ALSO_BLOCK]).toContain('hr-db:read (item 2 of 2)');
    expect(await h.db.accessRequest.count()).toBe(0);

    const form = { ...asOpenView(open.args.view as Record<string, unknown>, values(['billing-db:admin'])), id: 'V0BUNDLEFORM' };
    expect((await h.submit(REQUESTER, form)).status).toBe(200);
    await h.slack.waitForCall('chat.postMessage', (c) => c.args.channel === 'C0APPROVALS');
    // Slack gave up waiting, the person submitted again: the same two requests, no more.
    expect((await h.submit(REQUESTER, form)).status).toBe(200);
    const rows = await h.db.accessRequest.findMany({ orderBy: { bundlePosition: 'asc' } });
    expect(rows.map((row) => [row.resourceId, row.role, row.durationSeconds, row.reason, row.bundleId])).toEqual([
      ['prod-db', 'read', 3600, 'month-end close', rows[0]!.id],
      ['billing-db', 'admin', 3600, 'month-end close', rows[0]!.id],
    ]);
  });

  it('refuses the whole request when its items would pass the pending limit, writing none of them', async () => {
    const policy = { ...testPolicy([prodDb(), billing()]), limits: { ...testPolicy().limits, pendingPerPerson: 1 } };
    h = await LatchHarness.start(policy);
    await h.command(REQUESTER, 'prod-db:read,billing-db:admin 2h restoring the invoices', 'over-limit');
    const refused = await h.slack.waitForCall('response_url', (c) => c.args.id === 'over-limit');
    expect(refused.args.text).toContain('You already have 1 requests waiting');
    // A well-formed command the policy refused: a pointer to the help, not the whole usage again.
    expect(refused.args.text).toContain('Type `/request-access help` for every way to ask.');
    expect(refused.args.text).not.toContain('In an emergency');
    expect(await h.db.accessRequest.count()).toBe(0);
    expect(await h.db.auditEvent.count()).toBe(0);
  });

  it('applies each item\'s own rules: an auto-approval rule approves its item, the other waits for people', async () => {
    h = await LatchHarness.start(testPolicy([prodDb({ autoApprove: [testAutoApprovalRule({ name: 'reads-are-fine', roles: ['read'] })] }), billing()]));
    const { items } = await askForBoth(h, 'C0APPROVALS');
    const [prod, bill] = [items[0]!, items[1]!];
    expect(await stateOf(h, prod.id)).toBe('approved');
    expect(await stateOf(h, bill.id)).toBe('pending');
    expect(h.granted).toEqual([prod.id]);
    await waitFor(() => {
      const card = [...h!.slack.callsTo('chat.postMessage'), ...h!.slack.callsTo('chat.update')].filter((c) => c.args.channel === 'C0APPROVALS').at(-1)!;
      return text(card).includes('reads-are-fine') && actionIds(card).filter((id) => id === APPROVE).length === 1 && !actionIds(card).includes(APPROVE_ALL);
    });
  });

  it('posts the card once, for every item, when the sweep finds it missing after Slack refused it', async () => {
    h = await LatchHarness.start(testPolicy([prodDb(), billing()]));
    h.slack.failOnce('chat.postMessage', 'internal_error');
    await h.command(REQUESTER, 'prod-db:read,billing-db:admin 2h slack was down', 'refused-card');
    await h.slack.waitForCall('chat.postMessage', (c) => c.args.channel === REQUESTER);
    await waitFor(async () => (await h!.db.accessRequest.count({ where: { requesterMessageTs: { not: null } } })) === 2);
    expect(await h.db.accessRequest.count({ where: { approvalMessageTs: null } })).toBe(2);

    h.clock.advance(120);
    expect(await announceMissedRequests(h.latch.services)).toHaveLength(1);
    const cards = h.slack.callsTo('chat.postMessage').filter((c) => c.args.channel === 'C0APPROVALS');
    expect(cards).toHaveLength(2); // the refused attempt and the sweep's, which shows both items
    expect(text(cards[1]!)).toContain('Billing database');
    expect(await h.db.accessRequest.count({ where: { approvalMessageTs: null } })).toBe(0);
    expect(h.slack.callsTo('chat.postMessage').filter((c) => c.args.channel === REQUESTER)).toHaveLength(1);
    await announceMissedRequests(h.latch.services);
    expect(h.slack.callsTo('chat.postMessage').filter((c) => c.args.channel === 'C0APPROVALS')).toHaveLength(2);
  });
});
