import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Policy, RolePolicy } from '../../../src/domain/policy.ts';
import type { RequestScope } from '../../../src/domain/request-scope.ts';
import { ok, type ProviderGrant, type ProviderResult } from '../../../src/providers/provider.ts';
import type { AccessContext } from '../../../src/services/access-context.ts';
import { grantAccess } from '../../../src/services/grant-access.ts';
import { requestExtension } from '../../../src/services/request-extension.ts';
import { revokeGrant } from '../../../src/services/revoke-grant.ts';
import { PostgresAccessLocks } from '../../../src/store/access-lock.ts';
import { createDatabase, type Database } from '../../../src/store/database.ts';
import { MemoryProvider } from '../../helpers/memory-provider.ts';
import { createTestDatabase, emptyRequestTables, type TestDatabase } from '../../helpers/test-database.ts';
import { testPolicy, testResource } from '../../helpers/test-policy.ts';
import { testServiceContext } from '../../helpers/test-services.ts';

/**
 * Issue 17: a scoped grant is its own access. Each has target objects of its own (keyed by its
 * request), so it is never "covered" by another grant of the same principal and role, and never
 * covers one: each revocation reaches the provider, with the grant's own request and scope.
 */
const PRINCIPAL = 'alice';

/** A target that keeps each grant apart, as a scoped one does: by request id. */
class PerRequestProvider extends MemoryProvider {
  readonly live = new Map<string, RequestScope | undefined>();
  readonly revoked: ProviderGrant[] = [];

  override async grant(grant: ProviderGrant): Promise<ProviderResult> {
    this.live.set(grant.requestId, grant.scope);
    return super.grant(grant);
  }

  override async revoke(grant: ProviderGrant): Promise<ProviderResult> {
    this.revoked.push(grant);
    this.live.delete(grant.requestId);
    return super.revoke(grant);
  }

  async checkScope(): Promise<ProviderResult> {
    return ok();
  }
}

const scopedRead: RolePolicy = { id: 'read', maxDurationSeconds: 8 * 3600, scopes: [{ name: 'customer', pattern: '[0-9]+', values: null, minValues: 1, maxValues: 3 }] };
const scopedPolicy = testPolicy([testResource({ roles: [scopedRead] })]);

let testDb: TestDatabase;
let db: Database;
let locks: PostgresAccessLocks;

beforeAll(async () => {
  testDb = await createTestDatabase();
  db = createDatabase({ databaseUrl: testDb.url, poolSize: 8 });
  locks = new PostgresAccessLocks({ databaseUrl: testDb.url, poolSize: 4 });
});
afterAll(async () => {
  await locks.close();
  await db.$disconnect();
  await testDb.drop();
});
beforeEach(async () => {
  await emptyRequestTables(db);
});

function setup(policy: Policy) {
  const base = testServiceContext(db, policy);
  const provider = new PerRequestProvider();
  const ctx: AccessContext = {
    ...base.ctx,
    access: { requestGrant: async () => undefined, scheduleRevocation: async () => undefined },
    providerFor: (resourceId) => (resourceId === 'prod-db' ? provider : undefined),
    locks,
  };
  /** A reload: the policy in force from now on. */
  const reload = (next: Policy) => void (base.ctx.policyNow = next);
  return { ...base, ctx, provider, reload };
}

/** An approved request of `read` on prod-db for `alice`, as decideRequest leaves it. */
async function approvedRequest(scope: RequestScope | null) {
  const request = await db.accessRequest.create({
    data: { requesterSlackId: 'U0REQUESTER', resourceId: 'prod-db', role: 'read', principal: PRINCIPAL, durationSeconds: 3600, reason: 'ticket 99', state: 'approved', ...(scope ? { scope } : {}) },
  });
  return request.id;
}

async function granted(ctx: AccessContext, requestId: string) {
  const result = await grantAccess(ctx, { requestId, finalAttempt: false });
  if (result.outcome !== 'granted') throw new Error(`not granted: ${JSON.stringify(result)}`);
  return result;
}

describe('scoped grants and overlapping access', () => {
  it('revokes a scoped grant through the provider, with its scope, while another scoped grant of the same role lives on', async () => {
    const { ctx, clock, provider } = setup(scopedPolicy);
    const first = await granted(ctx, await approvedRequest({ customer: ['4711'] }));
    clock.advance(1800);
    const second = await granted(ctx, await approvedRequest({ customer: ['4712'] }));
    expect(provider.live.get(second.requestId)).toEqual({ customer: ['4712'] });

    clock.advance(1800); // the first expires; the second has half an hour left
    expect(await revokeGrant(ctx, first.grantId)).toMatchObject({ outcome: 'revoked', providerCalled: true, coveredBy: [] });
    expect(provider.revoked.map((grant) => [grant.requestId, grant.scope])).toEqual([[first.requestId, { customer: ['4711'] }]]);
    expect([...provider.live.keys()]).toEqual([second.requestId]);
  });

  it('never lets a scoped grant cover an unscoped one', async () => {
    // The role was unscoped when the first was granted; a reload made it scoped.
    const { ctx, clock, provider, reload } = setup(testPolicy([testResource()]));
    const whole = await granted(ctx, await approvedRequest(null));
    reload(scopedPolicy);
    clock.advance(1800);
    const scoped = await granted(ctx, await approvedRequest({ customer: ['4711'] }));
    clock.advance(1800); // the whole role's grant expires; the scoped one has half an hour left
    expect(await revokeGrant(ctx, whole.grantId)).toMatchObject({ outcome: 'revoked', providerCalled: true, coveredBy: [] });
    expect(provider.revoked.map((grant) => grant.requestId)).toEqual([whole.requestId]);
    expect([...provider.live.keys()]).toEqual([scoped.requestId]);
  });

  it('never lets an unscoped grant cover a scoped one', async () => {
    // The role was scoped when the first was granted; a reload took its scopes away.
    const { ctx, clock, provider, reload } = setup(scopedPolicy);
    const scoped = await granted(ctx, await approvedRequest({ customer: ['4711'] }));
    reload(testPolicy([testResource()]));
    clock.advance(1800);
    const whole = await granted(ctx, await approvedRequest(null));
    clock.advance(1800); // the scoped grant expires; the whole role's has half an hour left
    expect(await revokeGrant(ctx, scoped.grantId)).toMatchObject({ outcome: 'revoked', providerCalled: true, coveredBy: [] });
    expect(provider.revoked.map((grant) => [grant.requestId, grant.scope])).toEqual([[scoped.requestId, { customer: ['4711'] }]]);
    expect([...provider.live.keys()]).toEqual([whole.requestId]);
  });

  it('asks more time for the same scope, and grants the extension with it', async () => {
    const moreApprovers = testPolicy([testResource({ roles: [{ ...scopedRead, moreApprovers: [{ when: { customer: { moreThan: 1 } }, add: 1, oneFrom: [] }] }] })]);
    const { ctx, clock, provider } = setup(moreApprovers);
    const head = await granted(ctx, await approvedRequest({ customer: ['4711', '4712'] }));
    clock.advance(1800);
    const asked = await requestExtension(ctx, { requestId: head.requestId, requesterId: 'U0REQUESTER', duration: '1h', reason: 'the fix needs longer' });
    if (!asked.ok) throw new Error(JSON.stringify(asked));
    const extension = await db.accessRequest.findUniqueOrThrow({ where: { id: asked.requestId } });
    // The same scope, and the approvals that scope needs.
    expect([extension.scope, extension.requiredApprovals]).toEqual([{ customer: ['4711', '4712'] }, 2]);
    const created = await db.auditEvent.findFirstOrThrow({ where: { requestId: asked.requestId, action: 'request.created' } });
    expect(created.data).toMatchObject({ scope: { customer: ['4711', '4712'] } });
    await db.accessRequest.update({ where: { id: asked.requestId }, data: { state: 'approved' } });
    await granted(ctx, asked.requestId);
    expect(provider.live.get(asked.requestId)).toEqual({ customer: ['4711', '4712'] });
  });

  it('still lets unscoped grants cover each other, as before', async () => {
    const { ctx, clock, provider } = setup(testPolicy([testResource()]));
    const first = await granted(ctx, await approvedRequest(null));
    clock.advance(1800);
    const second = await granted(ctx, await approvedRequest(null));
    clock.advance(1800);
    expect(await revokeGrant(ctx, first.grantId)).toMatchObject({ outcome: 'revoked', providerCalled: false, coveredBy: [second.grantId] });
    expect(provider.revoked).toEqual([]);
  });

  it('fails a scoped request whose scope the policy in force no longer allows, and never grants the whole role', async () => {
    const { ctx, provider } = setup(testPolicy([testResource()]));
    const requestId = await approvedRequest({ customer: ['4711'] });
    // The policy in force has no scopes on read: the stored scope does not fit it.
    expect(await grantAccess(ctx, { requestId, finalAttempt: false })).toMatchObject({ outcome: 'failed' });
    expect(provider.callsOf('grant')).toBe(0);
    expect((await db.accessRequest.findUniqueOrThrow({ where: { id: requestId } })).state).toBe('failed');
  });

  it('refuses at the grant a scoped request whose provider cannot take scopes', async () => {
    const { ctx } = setup(scopedPolicy);
    const plain = new MemoryProvider();
    const requestId = await approvedRequest({ customer: ['4711'] });
    expect(await grantAccess({ ...ctx, providerFor: () => plain }, { requestId, finalAttempt: false })).toMatchObject({ outcome: 'failed' });
    expect(plain.callsOf('grant')).toBe(0);
  });
});
