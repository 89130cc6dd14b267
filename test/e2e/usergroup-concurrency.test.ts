import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { END_ACCESS } from '../../src/slack/blocks/ids.ts';
import { SLACK_EVENTS_PATH } from '../../src/slack/app.ts';
import { createDatabase, type Database } from '../../src/store/database.ts';
import { FakeSlack, type FakeSlackCall } from '../../tools/sandbox/fake-slack.ts';
import { freePort } from '../helpers/free-port.ts';
import { LatchProcess } from '../helpers/latch-process.ts';
import { PrivateRedis } from '../helpers/private-redis.ts';
import { SlackSender } from '../helpers/slack-sender.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.ts';

/**
 * Issue 14, point 6: one Slack user group, two `latch worker` processes, grants and revocations
 * interleaved. Slack can only replace a group's whole member list, so a grant that read the group
 * before a revocation wrote it, and writes after, puts the revoked person back. Slack here takes
 * its time over a write that adds someone, so a revocation started on the other worker meanwhile
 * would fall inside the grant's read-modify-write; the group's lock in PostgreSQL makes it wait.
 * Two resources share the group: ending a grant through one must not remove a person who still
 * holds it through the other.
 */
const SIGNING_SECRET = 'usergroup-signing-secret-0123456789';
const BOT_TOKEN = 'xoxb-4444-5555-usergroupBotToken';
const APPROVER = 'U0GROUPAPPROVER';
const CHANNEL = 'C0ONCALLAPPROVALS';
const GROUP = 'S0ONCALLSHARED';
/** In the group before Latch: nobody Latch grants or revokes, and nobody it may remove. */
const BYSTANDER = 'U0BYSTANDER';
const ROUNDS = 6;
/** Ended during the rounds: all but the last hold through oncall-a; the last holds through both. */
const leaving = Array.from({ length: ROUNDS }, (_, i) => `U0LEAVING${i}`);
const SHARED_HOLDER = leaving[ROUNDS - 1]!;
/** Granted during the rounds, one a round. */
const joining = Array.from({ length: ROUNDS }, (_, i) => `U0JOINING${i}`);
/** How long Slack takes over a write that adds someone: the window a race needs. */
const SLOW_GRANT_WRITE_MS = 1_500;

let slack: FakeSlack;
let database: TestDatabase;
let db: Database;
let redis: PrivateRedis;
const processes: LatchProcess[] = [];

beforeAll(async () => {
  const users = [...leaving, ...joining, APPROVER, BYSTANDER].map((id) => ({ id, name: id.toLowerCase(), email: `${id.toLowerCase()}@example.com` }));
  slack = await FakeSlack.start({ botToken: BOT_TOKEN, users });
  slack.addUsergroup(GROUP, { users: [BYSTANDER] });
  [database, redis] = await Promise.all([createTestDatabase(), PrivateRedis.start()]);
  db = createDatabase({ databaseUrl: database.url, poolSize: 2 });
});

afterAll(async () => {
  await Promise.all(processes.map((latch) => latch.kill('SIGKILL')));
  await db?.$disconnect();
  await redis?.stop();
  await database?.drop();
  await slack?.close();
});

async function startLatch(role: 'web' | 'worker', env: Record<string, string>): Promise<string> {
  const port = await freePort();
  const latch = new LatchProcess([role], { ...env, PORT: String(port) });
  processes.push(latch);
  await latch.waitForLog((line) => typeof line.msg === 'string' && line.msg.startsWith('latch is listening'), 60_000);
  return `http://127.0.0.1:${port}${SLACK_EVENTS_PATH}`;
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Who the group gives access to now: nobody while it is disabled. */
function members(): string[] {
  const group = slack.usergroup(GROUP);
  return group && !group.disabled ? [...group.users].sort() : [];
}

const writtenUsers = (call: FakeSlackCall) => String(call.args.users).split(',');

describe('two workers changing one Slack user group', { timeout: 300_000 }, () => {
  it('leaves exactly the people with an active grant in the group, and never writes a revoked person back', async () => {
    const policyFile = join(mkdtempSync(join(tmpdir(), 'latch-usergroup-')), 'policy.yaml');
    const resource = (id: string) => `
  - id: ${id}
    name: On-call rights ${id}
    provider: { type: slack-usergroup, settings: { usergroup: ${GROUP} } }
    roles: [member]
    maxDuration: 1h
    approvers: { users: [${APPROVER}] }
    approvalChannel: ${CHANNEL}`;
    writeFileSync(policyFile, `resources:${resource('oncall-a')}${resource('oncall-b')}\n`);
    const env = {
      DATABASE_URL: database.url,
      REDIS_URL: redis.url,
      SLACK_BOT_TOKEN: BOT_TOKEN,
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_API_URL: slack.apiUrl,
      LATCH_POLICY_FILE: policyFile,
      LOG_LEVEL: 'info',
    };
    const web = new SlackSender(await startLatch('web', env), SIGNING_SECRET, (id) => slack.responseUrl(id));
    await startLatch('worker', env);
    await startLatch('worker', env);

    const requestFor = async (userId: string, resourceId: string): Promise<string> => {
      expect((await web.command(userId, `${resourceId} member 1h on call`)).status).toBe(200);
      let id: string | undefined;
      await waitFor(
        async () => {
          const request = await db.accessRequest.findFirst({ where: { requesterSlackId: userId, resourceId, approvalMessageTs: { not: null } } });
          id = request?.id;
          return id !== undefined;
        },
        30_000,
        `${userId}'s request for ${resourceId} posted to approvers`,
      );
      return id!;
    };
    const stateOf = async (id: string) => (await db.accessRequest.findUniqueOrThrow({ where: { id } })).state;
    const waitForState = (id: string, state: string) => waitFor(async () => (await stateOf(id)) === state, 60_000, `request ${id} ${state}`);
    const approve = async (id: string) => expect((await web.click(APPROVER, 'latch_approve', id, CHANNEL)).status).toBe(200);

    // Holders first, one after the other (no race yet): the leaving people through oncall-a, and
    // the last of them through oncall-b too.
    const held = await Promise.all(leaving.map((userId) => requestFor(userId, 'oncall-a')));
    const alsoThroughB = await requestFor(SHARED_HOLDER, 'oncall-b');
    for (const id of [...held, alsoThroughB]) {
      await approve(id);
      await waitForState(id, 'active');
    }
    expect(members()).toEqual([BYSTANDER, ...leaving].sort());
    const joiningRequests = await Promise.all(joining.map((userId, i) => requestFor(userId, i % 2 === 0 ? 'oncall-a' : 'oncall-b')));

    // From here Slack is slow to write a list that adds someone.
    slack.slowDown('usergroups.users.update', SLOW_GRANT_WRITE_MS, (call) => writtenUsers(call).length > (slack.usergroup(GROUP)?.users.length ?? 0));
    for (let round = 0; round < ROUNDS; round++) {
      // A grant's write is on its way to Slack; then a holder says "I'm done" (the last one ends only
      // their oncall-a grant and keeps oncall-b). Which worker takes which job is BullMQ's choice.
      await approve(joiningRequests[round]!);
      await slack.waitForCall('usergroups.users.update', (call) => writtenUsers(call).includes(joining[round]!), 30_000);
      expect((await web.click(leaving[round]!, END_ACCESS, held[round]!, `D0${leaving[round]!}`, 'latch_active_access_actions')).status).toBe(200);
      await waitForState(joiningRequests[round]!, 'active');
      await waitForState(held[round]!, 'revoked');
    }

    // Every job has finished: a request becomes active or revoked only after its write and read-back.
    const active = await db.grant.findMany({ where: { revokedAt: null, grantedAt: { not: null } }, select: { principal: true } });
    const activePrincipals = [...new Set(active.map((grant) => grant.principal))];
    expect(activePrincipals.sort()).toEqual([...joining, SHARED_HOLDER].sort());
    const revokedBack = leaving.filter((id) => id !== SHARED_HOLDER && members().includes(id));
    expect(revokedBack, 'revoked people written back into the group').toEqual([]);
    expect(members()).toEqual([BYSTANDER, ...activePrincipals].sort());
    expect(await stateOf(alsoThroughB)).toBe('active');
    // Each revocation was verified and recorded once; nothing ended as failed.
    expect(await db.accessRequest.count({ where: { state: 'failed' } })).toBe(0);
    const revoked = await db.auditEvent.findMany({ where: { action: 'grant.revoked' } });
    expect(revoked).toHaveLength(ROUNDS);
  });
});
