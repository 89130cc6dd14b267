import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { permanent } from '../../../src/providers/provider.ts';
import type { AccessContext } from '../../../src/services/access-context.ts';
import { scanStandingAccess } from '../../../src/services/scan-standing-access.ts';
import { verifyAuditChain } from '../../../src/services/verify-audit-chain.ts';
import { PostgresAccessLocks } from '../../../src/store/access-lock.ts';
import { createDatabase, type Database } from '../../../src/store/database.ts';
import { MemoryProvider } from '../../helpers/memory-provider.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/test-database.ts';
import { testPolicy, testResource } from '../../helpers/test-policy.ts';
import { testServiceContext } from '../../helpers/test-services.ts';

let testDb: TestDatabase;
let db: Database;
let locks: PostgresAccessLocks;

beforeAll(async () => {
  testDb = await createTestDatabase();
  db = createDatabase({ databaseUrl: testDb.url, poolSize: 4 });
  locks = new PostgresAccessLocks({ databaseUrl: testDb.url, poolSize: 2 });
});
afterAll(async () => {
  await locks.close();
  await db.$disconnect();
  await testDb.drop();
});
beforeEach(async () => {
  await db.$transaction([
    db.$executeRawUnsafe('SET LOCAL session_replication_role = replica'),
    db.$executeRawUnsafe('TRUNCATE audit_events, approvals, grants, access_requests, standing_access_findings'),
  ]);
});

function setup() {
  const base = testServiceContext(db, testPolicy([testResource({ permanentHolders: ['svc_reporting'] })]));
  const provider = new MemoryProvider();
  const ctx: AccessContext = { ...base.ctx, providerFor: (id) => (id === 'prod-db' ? provider : undefined), locks };
  return { ...base, ctx, provider };
}

/** A grant row as Latch keeps it: `revokedAt` set means Latch believes the access is gone. */
async function grantRow(principal: string, fields: { grantedAt?: Date | null; revokedAt?: Date | null } = {}): Promise<string> {
  const request = await db.accessRequest.create({ data: { requesterSlackId: 'U0X', resourceId: 'prod-db', role: 'read', principal, durationSeconds: 3600, reason: 'scan', state: 'active' } });
  await db.grant.create({ data: { requestId: request.id, provider: 'memory', principal, resourceId: 'prod-db', role: 'read', grantedAt: fields.grantedAt === undefined ? new Date() : fields.grantedAt, expiresAt: new Date(Date.now() + 3600_000), revokedAt: fields.revokedAt ?? null } });
  return request.id;
}

const auditActions = async () => (await db.auditEvent.findMany({ orderBy: { seq: 'asc' } })).map((event) => [event.action, (event.data as { principal: string }).principal]);

describe('scanStandingAccess', () => {
  it('finds holders without a grant once, leaves out granted and permanent holders, and resolves what is gone', async () => {
    const { ctx, provider, clock } = setup();
    for (const holder of ['alice', 'bob', 'svc_reporting', 'carol', 'dave']) provider.access.add(`${holder}/read`);
    await grantRow('alice');
    // Granting in progress: the row exists before the provider is called.
    await grantRow('carol', { grantedAt: null });
    // A revocation Latch recorded but the target never applied: standing access.
    await grantRow('dave', { revokedAt: new Date() });

    const first = await scanStandingAccess(ctx);
    expect(first.found).toEqual([{ resourceId: 'prod-db', role: 'read', principal: 'bob' }, { resourceId: 'prod-db', role: 'read', principal: 'dave' }]);
    expect(first.errors).toEqual([]);

    clock.advance(600);
    const second = await scanStandingAccess(ctx);
    expect(second).toMatchObject({ found: [], resolved: [], stillOpen: 2 });
    expect((await db.standingAccessFinding.findFirstOrThrow({ where: { principal: 'bob' } })).lastSeenAt).toEqual(clock.now());

    provider.access.delete('bob/read');
    const third = await scanStandingAccess(ctx);
    expect(third.resolved).toEqual([{ resourceId: 'prod-db', role: 'read', principal: 'bob' }]);
    expect(await auditActions()).toEqual([
      ['standing_access.found', 'bob'],
      ['standing_access.found', 'dave'],
      ['standing_access.resolved', 'bob'],
    ]);
    expect((await verifyAuditChain(testDb.url)).ok).toBe(true);
  });

  it('leaves findings alone and says why when a role cannot be listed', async () => {
    const { ctx, provider } = setup();
    provider.access.add('bob/read');
    await scanStandingAccess(ctx);
    provider.list = async () => permanent('bad credentials for the target');
    const failed = await scanStandingAccess(ctx);
    expect(failed.errors).toEqual(['prod-db read: bad credentials for the target', 'prod-db write: bad credentials for the target']);
    expect(await db.standingAccessFinding.count({ where: { resolvedAt: null } })).toBe(1);
  });

  it('reports what scoped grants left on the target that no active grant of their request covers, and resolves it once gone', async () => {
    const { ctx, provider } = setup();
    const active = await grantRow('alice');
    const revoked = await grantRow('bob', { revokedAt: new Date() });
    const unknown = '01930000-0000-7000-8000-0000000000ff';
    let onTarget = [
      { requestId: active, login: 'alice', what: 'role latch_s_a (a database role)' },
      { requestId: active, login: 'alice', what: 'scope rows (customer)' },
      { requestId: revoked, login: 'bob', what: 'scope rows (customer)' },
      { requestId: unknown, login: null, what: 'role latch_s_b (privileges on public.orders), with no member' },
    ];
    Object.assign(provider, { listScopedAccess: async () => ({ ok: true as const, value: onTarget }) });

    const first = await scanStandingAccess(ctx);
    expect(first.found).toEqual([
      { resourceId: 'prod-db', role: 'scoped access', principal: `bob (request ${revoked})` },
      { resourceId: 'prod-db', role: 'scoped access', principal: `(no member) (request ${unknown})` },
    ]);

    onTarget = onTarget.filter((found) => found.requestId !== revoked);
    const second = await scanStandingAccess(ctx);
    expect(second.resolved).toEqual([{ resourceId: 'prod-db', role: 'scoped access', principal: `bob (request ${revoked})` }]);
    expect(second.stillOpen).toBe(1);

    // A target that cannot say leaves the findings as they were.
    Object.assign(provider, { listScopedAccess: async () => permanent('the grantor cannot read latch_scopes.grants') });
    const failed = await scanStandingAccess(ctx);
    expect(failed.errors).toEqual(['prod-db scoped access: the grantor cannot read latch_scopes.grants']);
    expect(await db.standingAccessFinding.count({ where: { resolvedAt: null, role: 'scoped access' } })).toBe(1);
  });
});
