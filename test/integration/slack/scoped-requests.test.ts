import { afterEach, describe, expect, it } from 'vitest';
import type { ResourcePolicy } from '../../../src/domain/policy.ts';
import type { RequestScope } from '../../../src/domain/request-scope.ts';
import { ok, type ProviderGrant, type ProviderResult } from '../../../src/providers/provider.ts';
import {
  APPROVE,
  REQUEST_DURATION_ACTION,
  REQUEST_DURATION_BLOCK,
  REQUEST_REASON_ACTION,
  REQUEST_REASON_BLOCK,
  REQUEST_RESOURCE_ACTION,
  REQUEST_RESOURCE_BLOCK,
  REQUEST_ROLE_ACTION,
  REQUEST_SCOPE_ACTION,
  requestRoleBlockId,
} from '../../../src/slack/blocks/ids.ts';
import { asOpenView, LatchHarness, selected, textInput } from '../../helpers/latch-harness.ts';
import { MemoryProvider } from '../../helpers/memory-provider.ts';
import { testAutoApprovalRule, testPolicy, testResource } from '../../helpers/test-policy.ts';

/**
 * Issue 17, the request side of scoped access, through the real Bolt app over signed HTTP with
 * only Slack faked: a scope typed inline or in the form is checked against the role's policy and
 * the provider, shown to approvers exactly as asked, stored and audited, and handed to the
 * provider with the grant. The provider here records what it was given.
 */
const REQUESTER = 'U0REQUESTER';
const APPROVER1 = 'U0APPROVER1';
const APPROVER2 = 'U0APPROVER2';
const identity = { map: { [REQUESTER]: 'alice' }, from: 'map-only' as const, template: '{email}' };

/** A target that can grant scopes: it records every grant, and refuses customers it does not know. */
class ScopeRecordingProvider extends MemoryProvider {
  readonly granted: ProviderGrant[] = [];
  readonly checked: Array<{ role: string; scope: RequestScope }> = [];
  unknownCustomers = new Set(['9999']);
  unreachable = false;

  override async grant(grant: ProviderGrant): Promise<ProviderResult> {
    this.granted.push(grant);
    return super.grant(grant);
  }

  async checkScope(role: string, scope: RequestScope): Promise<ProviderResult> {
    this.checked.push({ role, scope });
    if (this.unreachable) return { ok: false, failure: { kind: 'transient', message: 'connection refused' } };
    const unknown = (scope.customer ?? []).find((customer) => this.unknownCustomers.has(customer));
    if (unknown) return { ok: false, failure: { kind: 'permanent', message: `customer ${unknown} has no rows in public.orders` } };
    return ok();
  }
}

function supportDb(overrides: Partial<ResourcePolicy> = {}): ResourcePolicy {
  return testResource({
    id: 'support-db',
    name: 'Support database',
    identity,
    roles: [
      { id: 'read', maxDurationSeconds: 3600 },
      {
        id: 'debug',
        description: "One customer's data",
        maxDurationSeconds: 3600,
        scopes: [
          { name: 'customer', description: 'The customer id from the ticket', pattern: '^[0-9]+$', values: null, minValues: 1, maxValues: 2 },
          { name: 'tables', pattern: null, values: ['public.orders', 'public.invoices'], minValues: 0, maxValues: 2 },
        ],
        moreApprovers: [{ when: { customer: { moreThan: 1 } }, add: 1, oneFrom: [] }],
      },
    ],
    ...overrides,
  });
}

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

/** Sends an inline command and gives back what Latch answered the person. */
async function inline(harness: LatchHarness, commandText: string, id: string): Promise<string> {
  expect((await harness.command(REQUESTER, commandText, id)).status).toBe(200);
  return String((await harness.slack.waitForCall('response_url', (c) => c.args.id === id)).args.text);
}

describe('a scoped request', () => {
  it('inline with customer=4711: the card shows it, approval grants it, and the provider receives exactly that scope', async () => {
    const provider = new ScopeRecordingProvider();
    h = await LatchHarness.start(testPolicy([supportDb()]), { provider });
    expect(await inline(h, 'support-db debug 30m customer=4711 tables=public.orders debugging ticket 99', 'ask')).toContain('Request sent');
    const request = await h.db.accessRequest.findFirstOrThrow({ where: { requesterSlackId: REQUESTER } });
    expect(request.scope).toEqual({ customer: ['4711'], tables: ['public.orders'] });
    expect(request.reason).toBe('debugging ticket 99');
    expect(request.requiredApprovals).toBe(1);
    expect(provider.checked).toEqual([{ role: 'debug', scope: { customer: ['4711'], tables: ['public.orders'] } }]);
    // The audit event records what was asked, scope included.
    const created = await h.db.auditEvent.findFirstOrThrow({ where: { requestId: request.id, action: 'request.created' } });
    expect(created.data).toMatchObject({ role: 'debug', scope: { customer: ['4711'], tables: ['public.orders'] } });

    const card = await h.slack.waitForCall('chat.postMessage', (c) => c.args.channel === 'C0APPROVALS');
    expect(text(card)).toContain('*Scope*\\ncustomer 4711 · tables public.orders');
    const receipt = await h.slack.waitForCall('chat.postMessage', (c) => c.args.channel === REQUESTER);
    expect(text(receipt)).toContain('(customer 4711 · tables public.orders)');

    await h.click(APPROVER1, APPROVE, request.id);
    await waitFor(() => provider.granted.length === 1);
    expect(provider.granted[0]).toMatchObject({ requestId: request.id, role: 'debug', principal: 'alice', scope: { customer: ['4711'], tables: ['public.orders'] } });
    await waitFor(async () => (await h!.db.accessRequest.findUniqueOrThrow({ where: { id: request.id } })).state === 'active');
  });

  it('refuses a bad value with a message that says what is wrong, and writes nothing', async () => {
    const provider = new ScopeRecordingProvider();
    h = await LatchHarness.start(testPolicy([supportDb()]), { provider });
    const cases: Array<[string, string]> = [
      ['support-db debug 30m customer=47x1 debugging', 'customer "47x1" does not match ^[0-9]+$'],
      ['support-db debug 30m customer=4711 tables=public.secrets debugging', 'tables: public.secrets is not one of public.orders, public.invoices'],
      ['support-db debug 30m customer=1,2,3 debugging', 'At most 2 values of customer (3 given)'],
      ['support-db debug 30m debugging without a customer', 'Give customer: the role debug is only granted for a customer matching ^[0-9]+$'],
      ["support-db debug 30m customer=4711';DROP_TABLE_orders;-- debugging", 'does not match ^[0-9]+$'],
      ['support-db read 30m customer=4711 a scope on a role without one', 'The role read takes no scope (customer)'],
      ['support-db:debug 30m customer=4711 several at once', 'A scope (name=value) can be given for one resource at a time'],
    ];
    for (const [index, [command, message]] of cases.entries()) {
      const answer = await inline(h, command, `bad-${index}`);
      expect(answer).toContain('Your request was not sent');
      expect(answer).toContain(message);
      // The scope's own form follows, not the whole usage (break-glass, lists, login) burying the line above.
      expect(answer).toContain('Type `/request-access help` for every way to ask.');
      expect(answer).not.toContain('In an emergency');
    }
    // The policy refused each before the target was asked; nothing was stored.
    expect(provider.checked).toEqual([]);
    expect(await h.db.accessRequest.count()).toBe(0);
    expect(await h.db.auditEvent.count({ where: { action: 'request.created' } })).toBe(0);
  });

  it("refuses what the target says it cannot grant, and asks to try again when the target cannot say", async () => {
    const provider = new ScopeRecordingProvider();
    h = await LatchHarness.start(testPolicy([supportDb()]), { provider });
    const unknown = await inline(h, 'support-db debug 30m customer=9999 debugging', 'unknown');
    expect(unknown).toContain('Support database cannot grant customer 9999: customer 9999 has no rows in public.orders.');
    expect(unknown).toContain('For a role with a scope, give it after the duration');
    provider.unreachable = true;
    expect(await inline(h, 'support-db debug 30m customer=4711 debugging', 'down')).toContain('Latch could not check that scope on Support database just now; try again in a minute.');
    expect(await h.db.accessRequest.count()).toBe(0);
  });

  it('needs the extra approvers moreApprovers asks for, and no auto-approval rule approves such a scope alone', async () => {
    const provider = new ScopeRecordingProvider();
    h = await LatchHarness.start(testPolicy([supportDb({ autoApprove: [testAutoApprovalRule({ name: 'debug-quickly' })] })]), { provider });
    // One customer: the rule approves it by itself.
    expect(await inline(h, 'support-db debug 30m customer=4711 one customer', 'one')).toContain('Approved by policy rule debug-quickly');
    await waitFor(() => provider.granted.length === 1);
    // Two customers: two approvals, from people.
    expect(await inline(h, 'support-db debug 30m customer=4711,4712 two customers', 'two')).toContain('Request sent');
    const two = await h.db.accessRequest.findFirstOrThrow({ where: { reason: 'two customers' } });
    expect([two.state, two.requiredApprovals, two.decidedByRule]).toEqual(['pending', 2, null]);
    await h.click(APPROVER1, APPROVE, two.id);
    await waitFor(async () => (await h!.db.approval.count({ where: { requestId: two.id } })) === 1);
    expect((await h.db.accessRequest.findUniqueOrThrow({ where: { id: two.id } })).state).toBe('pending');
    await h.click(APPROVER2, APPROVE, two.id);
    await waitFor(() => provider.granted.length === 2);
    expect(provider.granted[1]).toMatchObject({ requestId: two.id, scope: { customer: ['4711', '4712'] } });
  });

  it('the form shows a field per parameter, puts a bad value\'s message beside its field, and sends a good one', async () => {
    const provider = new ScopeRecordingProvider();
    h = await LatchHarness.start(testPolicy([supportDb()]), { provider });
    await h.command(REQUESTER);
    const open = await h.slack.waitForCall('views.open');
    const opened = asOpenView({ ...(open.args.view as object), id: 'V0OPEN' });
    await h.selectInModal(REQUESTER, opened, REQUEST_RESOURCE_ACTION, REQUEST_RESOURCE_BLOCK, 'support-db');
    const update = await h.slack.waitForCall('views.update');
    const view = update.args.view as { blocks: Array<{ block_id?: string; hint?: { text: string } }> };
    const customerField = view.blocks.find((block) => block.block_id === 'latch_request_scope:customer');
    expect(customerField?.hint?.text).toContain('The customer id from the ticket');
    expect(view.blocks.some((block) => block.block_id === 'latch_request_scope:tables')).toBe(true);

    // Picking a role shows that role's fields: debug needs a customer; read takes no scope.
    const pickRole = async (role: string, viewId: string) => {
      const before = h!.slack.callsTo('views.update').length;
      await h!.selectInModal(REQUESTER, { ...asOpenView(update.args.view as Record<string, unknown>, { [REQUEST_RESOURCE_BLOCK]: { [REQUEST_RESOURCE_ACTION]: selected('support-db') } }), id: viewId }, REQUEST_ROLE_ACTION, requestRoleBlockId('support-db'), role);
      await waitFor(() => h!.slack.callsTo('views.update').length > before);
      return (h!.slack.callsTo('views.update').at(-1)!.args.view as { blocks: Array<{ block_id?: string; optional?: boolean }> }).blocks;
    };
    const forDebug = await pickRole('debug', 'V0DEBUG');
    expect(forDebug.find((block) => block.block_id === 'latch_request_scope:customer')?.optional).toBe(false);
    expect(forDebug.find((block) => block.block_id === 'latch_request_scope:tables')?.optional).toBe(true);
    const forRead = await pickRole('read', 'V0READ');
    expect(forRead.some((block) => block.block_id?.startsWith('latch_request_scope:'))).toBe(false);

    const values = (customer: string): Record<string, Record<string, Record<string, unknown>>> => ({
      [REQUEST_RESOURCE_BLOCK]: { [REQUEST_RESOURCE_ACTION]: selected('support-db') },
      [requestRoleBlockId('support-db')]: { [REQUEST_ROLE_ACTION]: selected('debug') },
      'latch_request_scope:customer': { [REQUEST_SCOPE_ACTION]: textInput(customer) },
      'latch_request_scope:tables': { [REQUEST_SCOPE_ACTION]: textInput('') },
      [REQUEST_DURATION_BLOCK]: { [REQUEST_DURATION_ACTION]: textInput('30m') },
      [REQUEST_REASON_BLOCK]: { [REQUEST_REASON_ACTION]: textInput('ticket 99') },
    });
    const refused = await h.submit(REQUESTER, { ...asOpenView(update.args.view as Record<string, unknown>, values('47x1')), id: 'V0FIRST' });
    expect(await refused.json()).toEqual({ response_action: 'errors', errors: { 'latch_request_scope:customer': 'customer "47x1" does not match ^[0-9]+$.' } });
    expect(await h.db.accessRequest.count()).toBe(0);

    const sent = await h.submit(REQUESTER, { ...asOpenView(update.args.view as Record<string, unknown>, values(' 4711 ')), id: 'V0SECOND' });
    expect(sent.status).toBe(200);
    await waitFor(async () => (await h!.db.accessRequest.count()) === 1);
    expect((await h.db.accessRequest.findFirstOrThrow()).scope).toEqual({ customer: ['4711'] });
  });

  it('refuses a scoped role on a provider that cannot take scopes, rather than grant the whole role', async () => {
    h = await LatchHarness.start(testPolicy([supportDb()]), { provider: new MemoryProvider() });
    expect(await inline(h, 'support-db debug 30m customer=4711 debugging', 'no-scopes')).toContain('Support database cannot grant part of a role: its provider (memory) does not take scopes.');
    expect(await h.db.accessRequest.count()).toBe(0);
  });
});
