import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AccessProvider } from '../../../src/providers/provider.ts';
import { createSlackUsergroupProvider } from '../../../src/providers/slack-usergroup/slack-usergroup-provider.ts';
import type { AccessContext } from '../../../src/services/access-context.ts';
import { grantAccess } from '../../../src/services/grant-access.ts';
import { revokeGrant } from '../../../src/services/revoke-grant.ts';
import { scanStandingAccess } from '../../../src/services/scan-standing-access.ts';
import { PostgresAccessLocks } from '../../../src/store/access-lock.ts';
import { createDatabase, type Database } from '../../../src/store/database.ts';
import { PostgresTargetLocks } from '../../../src/store/target-lock.ts';
import { FakeSlack } from '../../../tools/sandbox/fake-slack.ts';
import { createTestDatabase, emptyRequestTables, type TestDatabase } from '../../helpers/test-database.ts';
import { testPolicy, testResource } from '../../helpers/test-policy.ts';
import { testServiceContext } from '../../helpers/test-services.ts';

/**
 * One Slack user group behind two resources (or two roles): a person holding it through both must
 * keep it until the last of those grants ends. The grant and revoke use cases, real PostgreSQL and
 * the real provider against the fake Slack Web API.
 */
const GROUP = 'S0SHAREDOPS';
const ALICE = 'U0ALICE';
const BYSTANDER = 'U0BYSTANDER';

let testDb: TestDatabase;
let db: Database;
let accessLocks: PostgresAccessLocks;
let targetLocks: PostgresTargetLocks;
let slack: FakeSlack;

beforeAll(async () => {
  testDb = await createTestDatabase();
  db = createDatabase({ databaseUrl: testDb.url, poolSize: 6 });
  accessLocks = new PostgresAccessLocks({ databaseUrl: testDb.url, poolSize: 4 });
  targetLocks = new PostgresTargetLocks({ databaseUrl: testDb.url, poolSize: 4 });
  slack = await FakeSlack.start();
});
afterAll(async () => {
  await accessLocks?.close();
  await targetLocks?.close();
  await db?.$disconnect();
  await testDb?.drop();
  await slack?.close();
});
beforeEach(async () => {
  await emptyRequestTables(db);
  slack.reset();
  slack.addUsergroup(GROUP, { users: [BYSTANDER] });
});

const usergroupResource = (id: string, settings: Record<string, unknown>) =>
  testResource({ id, provider: { type: 'slack-usergroup', settings }, identity: { map: {}, from: 'slack-user-id', template: '{email}' } });

function setup(settingsOf: Record<string, Record<string, unknown>>) {
  const policy = testPolicy(Object.entries(settingsOf).map(([id, settings]) => usergroupResource(id, settings)));
  const providers = new Map<string, AccessProvider>();
  for (const [id, settings] of Object.entries(settingsOf)) {
    const built = createSlackUsergroupProvider(settings, { SLACK_BOT_TOKEN: slack.botToken, SLACK_API_URL: slack.apiUrl }, { locks: targetLocks });
    if (!built.ok) throw new Error(built.problems.join('\n'));
    providers.set(id, built.provider);
  }
  const base = testServiceContext(db, policy);
  const ctx: AccessContext = {
    ...base.ctx,
    access: { requestGrant: async () => undefined, scheduleRevocation: async () => undefined },
    providerFor: (resourceId) => providers.get(resourceId),
    locks: accessLocks,
  };
  return { ctx, clock: base.clock };
}

async function activeGrant(ctx: AccessContext, resourceId: string, role: string, durationSeconds: number) {
  const request = await db.accessRequest.create({
    data: { requesterSlackId: ALICE, resourceId, role, principal: ALICE, durationSeconds, reason: 'on call', state: 'approved' },
  });
  const granted = await grantAccess(ctx, { requestId: request.id, finalAttempt: false });
  if (granted.outcome !== 'granted') throw new Error(`not granted: ${JSON.stringify(granted)}`);
  return granted;
}

const members = () => {
  const group = slack.usergroup(GROUP);
  return group && !group.disabled ? group.users : [];
};

describe('one Slack user group behind two resources', () => {
  it('keeps the person in the group while a grant through the other resource still covers them', async () => {
    const { ctx, clock } = setup({ 'oncall-a': { usergroup: GROUP }, 'oncall-b': { usergroup: GROUP } });
    const throughA = await activeGrant(ctx, 'oncall-a', 'read', 600);
    const throughB = await activeGrant(ctx, 'oncall-b', 'read', 3600);
    expect(members()).toEqual([BYSTANDER, ALICE]);

    clock.advance(600); // the grant through oncall-a ends; the one through oncall-b has 50 minutes left
    expect(await revokeGrant(ctx, throughA.grantId)).toMatchObject({ outcome: 'revoked', providerCalled: false, coveredBy: [throughB.grantId] });
    expect(members()).toEqual([BYSTANDER, ALICE]);

    clock.advance(3000);
    expect(await revokeGrant(ctx, throughB.grantId)).toMatchObject({ outcome: 'revoked', providerCalled: true, coveredBy: [] });
    expect(members()).toEqual([BYSTANDER]);
  });

  it('treats two roles of one resource that map to one group as one membership', async () => {
    const { ctx, clock } = setup({ oncall: { usergroup: GROUP, roles: { read: GROUP } } });
    const read = await activeGrant(ctx, 'oncall', 'read', 600);
    const write = await activeGrant(ctx, 'oncall', 'write', 3600);
    clock.advance(600);
    expect(await revokeGrant(ctx, read.grantId)).toMatchObject({ outcome: 'revoked', providerCalled: false, coveredBy: [write.grantId] });
    expect(members()).toEqual([BYSTANDER, ALICE]);
  });

  it('still ends access through a resource whose group nobody else gives', async () => {
    slack.addUsergroup('S0OTHER', { users: [BYSTANDER] });
    const { ctx, clock } = setup({ 'oncall-a': { usergroup: GROUP }, 'oncall-b': { usergroup: 'S0OTHER' } });
    const throughA = await activeGrant(ctx, 'oncall-a', 'read', 600);
    await activeGrant(ctx, 'oncall-b', 'read', 3600);
    clock.advance(600);
    expect(await revokeGrant(ctx, throughA.grantId)).toMatchObject({ outcome: 'revoked', providerCalled: true, coveredBy: [] });
    expect(members()).toEqual([BYSTANDER]);
    expect(slack.usergroup('S0OTHER')?.users).toEqual([BYSTANDER, ALICE]);
  });

  it('does not call a member standing access on one resource when a grant through the other covers them', async () => {
    const { ctx } = setup({ 'oncall-a': { usergroup: GROUP, roles: { write: 'S0OTHER' } }, 'oncall-b': { usergroup: GROUP, roles: { write: 'S0OTHER' } } });
    slack.addUsergroup('S0OTHER', { users: [BYSTANDER] });
    await activeGrant(ctx, 'oncall-b', 'read', 3600);
    const scan = await scanStandingAccess(ctx);
    expect(scan.errors).toEqual([]);
    // The bystander was put in the groups by hand: standing access, on every resource that lists them.
    expect(scan.found.filter((finding) => finding.principal === ALICE)).toEqual([]);
    expect(scan.found.filter((finding) => finding.principal === BYSTANDER)).toHaveLength(4);
  });
});
