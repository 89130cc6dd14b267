import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ok, permanent, transient, type IssuedCredentials, type ProviderGrant, type ProviderResult } from '../../../src/providers/provider.ts';
import type { AccessContext } from '../../../src/services/access-context.ts';
import { grantAccess } from '../../../src/services/grant-access.ts';
import { issueCredentials } from '../../../src/services/issue-credentials.ts';
import { PostgresAccessLocks } from '../../../src/store/access-lock.ts';
import { createDatabase, type Database } from '../../../src/store/database.ts';
import { MemoryProvider } from '../../helpers/memory-provider.ts';
import { createTestDatabase, emptyRequestTables, type TestDatabase } from '../../helpers/test-database.ts';
import { testPolicy } from '../../helpers/test-policy.ts';
import { testServiceContext } from '../../helpers/test-services.ts';

/**
 * The once-only hand-out of a login's credentials (issue-credentials.ts) against the real
 * database, with a provider in memory: concurrent fetches, a target that fails, access that ended.
 */

const REQUESTER = 'U0REQUESTER';

/** A memory target whose logins get a new password per issue; issues can fail or be held open. */
class LoginProvider extends MemoryProvider {
  issued = 0;
  private issueFailures: ProviderResult<never>[] = [];
  private issueGate: Promise<void> | undefined;

  failNextIssue(result: ProviderResult<never>): void {
    this.issueFailures.push(result);
  }

  holdIssues(): () => void {
    let release!: () => void;
    this.issueGate = new Promise((resolve) => (release = resolve));
    return () => {
      this.issueGate = undefined;
      release();
    };
  }

  async issueCredentials(grant: ProviderGrant): Promise<ProviderResult<IssuedCredentials>> {
    await this.issueGate;
    const failure = this.issueFailures.shift();
    if (failure) return failure;
    this.issued += 1;
    return ok({ host: 'db.internal', port: 5432, database: 'app', user: grant.principal, password: `password-${this.issued}`, validUntil: grant.expiresAt });
  }
}

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

async function grantedRequest() {
  const base = testServiceContext(db, testPolicy());
  const provider = new LoginProvider();
  const ctx: AccessContext = {
    ...base.ctx,
    access: { requestGrant: async () => undefined, scheduleRevocation: async () => undefined },
    providerFor: (resourceId) => (resourceId === 'prod-db' ? provider : undefined),
    locks,
  };
  const request = await db.accessRequest.create({
    data: { requesterSlackId: REQUESTER, resourceId: 'prod-db', role: 'read', principal: 'latch_0190f0a1b2c37d4e8f506172839405ab', durationSeconds: 900, reason: 'deploy 4f2a', state: 'approved' },
  });
  expect(await grantAccess(ctx, { requestId: request.id, finalAttempt: false })).toMatchObject({ outcome: 'granted' });
  return { ctx, clock: base.clock, provider, requestId: request.id };
}

const actions = async (requestId: string) => (await db.auditEvent.findMany({ where: { requestId }, orderBy: { seq: 'asc' } })).map((event) => event.action);

describe('issueCredentials', () => {
  it('hands the credentials to one of two fetches made at the same time, and refuses the other', async () => {
    const { ctx, provider, requestId } = await grantedRequest();
    const release = provider.holdIssues();
    const both = Promise.all([issueCredentials(ctx, { requestId, requesterId: REQUESTER }), issueCredentials(ctx, { requestId, requesterId: REQUESTER })]);
    await new Promise((resolve) => setTimeout(resolve, 100));
    release();
    const results = await both;
    expect(results.filter((result) => result.ok)).toHaveLength(1);
    expect(results.find((result) => !result.ok)).toMatchObject({ ok: false, refusal: { code: 'credentials_issued' } });
    expect(provider.issued).toBe(1);
    expect(await actions(requestId)).toEqual(['grant.granted', 'credentials.issued']);
  });

  it('gives the claim back when the target cannot set the password, so a retry gets it', async () => {
    const { ctx, provider, requestId } = await grantedRequest();
    provider.failNextIssue(transient('the database is restarting'));
    expect(await issueCredentials(ctx, { requestId, requesterId: REQUESTER })).toMatchObject({ ok: false, refusal: { code: 'credentials_unavailable', message: expect.stringContaining('try again') } });
    expect((await db.grant.findUniqueOrThrow({ where: { requestId } })).credentialsIssuedAt).toBeNull();
    const retried = await issueCredentials(ctx, { requestId, requesterId: REQUESTER });
    expect(retried).toMatchObject({ ok: true, credentials: { user: 'latch_0190f0a1b2c37d4e8f506172839405ab', password: 'password-1' } });
    expect(await actions(requestId)).toEqual(['grant.granted', 'credentials.issued', 'credentials.issue_failed', 'credentials.issued']);
    const failed = await db.auditEvent.findFirstOrThrow({ where: { requestId, action: 'credentials.issue_failed' } });
    expect(failed.data).toMatchObject({ kind: 'transient', message: 'the database is restarting' });
  });

  it('says the access has ended when the login is gone on the target', async () => {
    const { ctx, provider, requestId } = await grantedRequest();
    provider.failNextIssue(permanent('the login "latch_0190f0a1b2c37d4e8f506172839405ab" no longer exists: its access has ended'));
    expect(await issueCredentials(ctx, { requestId, requesterId: REQUESTER })).toMatchObject({ ok: false, refusal: { code: 'not_active', message: expect.stringContaining('ended on the target') } });
  });

  it('refuses after the grant’s end even before the revocation ran, and another requester as if the request did not exist', async () => {
    const { ctx, clock, provider, requestId } = await grantedRequest();
    expect(await issueCredentials(ctx, { requestId, requesterId: 'U0SOMEONEELSE' })).toMatchObject({ ok: false, refusal: { code: 'not_found' } });
    clock.advance(901);
    expect(await issueCredentials(ctx, { requestId, requesterId: REQUESTER })).toMatchObject({ ok: false, refusal: { code: 'not_active' } });
    expect(provider.issued).toBe(0);
    expect(await actions(requestId)).toEqual(['grant.granted']);
  });
});
