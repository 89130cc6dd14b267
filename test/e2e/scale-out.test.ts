import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SLACK_EVENTS_PATH } from '../../src/slack/app.ts';
import { createDatabase, type Database } from '../../src/store/database.ts';
import { FakeSlack } from '../../tools/sandbox/fake-slack.ts';
import { freePort } from '../helpers/free-port.ts';
import { LatchProcess } from '../helpers/latch-process.ts';
import { PrivateRedis } from '../helpers/private-redis.ts';
import { SlackSender } from '../helpers/slack-sender.ts';
import { adminQuery, createTestDatabase, withDatabaseName, type TestDatabase } from '../helpers/test-database.ts';

/**
 * Scale-out as DESIGN.md promises it: two `latch web` processes take Slack's requests and two
 * `latch worker` processes run the jobs, against one PostgreSQL and one Redis. Every approval is
 * granted once and revoked once, whichever process takes which request, click and job. The
 * processes start through the test entry (LatchProcess's `shortGrants`), so the access lasts
 * seconds: long enough for every approval to be granted before the first one expires.
 */
const SIGNING_SECRET = 'scale-signing-secret-0123456789abc';
const BOT_TOKEN = 'xoxb-2222-3333-scaleBotToken';
const APPROVER = 'U0SCALEAPPROVER';
const PEOPLE = 6;
const suffix = randomBytes(4).toString('hex');
const targetName = `latch_e2e_scale_${suffix}`;
const managedRole = `latch_e2e_scale_reader_${suffix}`;
const person = (index: number) => ({ slackId: `U0SCALE${index}`, principal: `latch_e2e_scale_${index}_${suffix}` });

let slack: FakeSlack;
let adminUrl: string;
let admin: pg.Client;
let database: TestDatabase;
let db: Database;
let redis: PrivateRedis;
const processes: LatchProcess[] = [];

beforeAll(async () => {
  slack = await FakeSlack.start({ botToken: BOT_TOKEN });
  adminUrl = inject('adminDatabaseUrl');
  await adminQuery(adminUrl, `CREATE DATABASE ${targetName}`);
  admin = new pg.Client({ connectionString: withDatabaseName(adminUrl, targetName) });
  await admin.connect();
  await admin.query(`CREATE ROLE ${managedRole} NOLOGIN`);
  for (let i = 0; i < PEOPLE; i++) await admin.query(`CREATE ROLE ${person(i).principal} LOGIN`);
  [database, redis] = await Promise.all([createTestDatabase(), PrivateRedis.start()]);
  db = createDatabase({ databaseUrl: database.url, poolSize: 2 });
});

afterAll(async () => {
  await Promise.all(processes.map((latch) => latch.kill('SIGKILL')));
  await db?.$disconnect();
  await redis?.stop();
  await database?.drop();
  await admin?.end();
  await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${targetName} WITH (FORCE)`);
  for (let i = 0; i < PEOPLE; i++) await adminQuery(adminUrl, `DROP ROLE IF EXISTS ${person(i).principal}`);
  await adminQuery(adminUrl, `DROP ROLE IF EXISTS ${managedRole}`);
  await slack?.close();
});

async function startLatch(role: 'web' | 'worker', env: Record<string, string>): Promise<string> {
  const port = await freePort();
  const latch = new LatchProcess([role], { ...env, PORT: String(port) }, { shortGrants: true });
  processes.push(latch);
  await latch.waitForLog((line) => typeof line.msg === 'string' && line.msg.startsWith('latch is listening'), 60_000);
  return `http://127.0.0.1:${port}${SLACK_EVENTS_PATH}`;
}

async function hasRole(principal: string): Promise<boolean> {
  const { rows } = await admin.query<{ member: boolean }>(`SELECT pg_has_role($1::name, $2::name, 'MEMBER') AS member`, [principal, managedRole]);
  return rows[0]?.member === true;
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('two web and two worker processes on one PostgreSQL and Redis', { timeout: 240_000 }, () => {
  it('grants every approval once and revokes it once', async () => {
    const map = Array.from({ length: PEOPLE }, (_, i) => `        ${person(i).slackId}: ${person(i).principal}`).join('\n');
    const policyFile = join(mkdtempSync(join(tmpdir(), 'latch-scale-')), 'policy.yaml');
    writeFileSync(
      policyFile,
      `
resources:
  - id: target-db
    name: Target database
    provider: { type: postgres, settings: { connectionStringEnv: TARGET_DB_URL, roles: { read: ${managedRole} } } }
    identity:
      from: map-only
      map:
${map}
    roles: [read]
    maxDuration: 1h
    approvers: { users: [${APPROVER}] }
    approvalChannel: C0SCALE
`,
    );
    const env = {
      DATABASE_URL: database.url,
      REDIS_URL: redis.url,
      SLACK_BOT_TOKEN: BOT_TOKEN,
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_API_URL: slack.apiUrl,
      LATCH_POLICY_FILE: policyFile,
      TARGET_DB_URL: withDatabaseName(adminUrl, targetName),
      LOG_LEVEL: 'info',
    };
    const webs = [await startLatch('web', env), await startLatch('web', env)].map((url) => new SlackSender(url, SIGNING_SECRET, (id) => slack.responseUrl(id)));
    await startLatch('worker', env);
    await startLatch('worker', env);

    // Each request through one web process, its approval through the other.
    for (let i = 0; i < PEOPLE; i++) {
      const response = await webs[i % 2]!.command(person(i).slackId, `target-db read 20s scale-out ${i}`);
      expect(response.status).toBe(200);
    }
    await waitFor(async () => (await db.accessRequest.count({ where: { approvalMessageTs: { not: null } } })) === PEOPLE, 30_000);
    const requests = await db.accessRequest.findMany({ orderBy: { createdAt: 'asc' } });
    for (const [index, request] of requests.entries()) await webs[(index + 1) % 2]!.click(APPROVER, 'latch_approve', request.id, 'C0SCALE');

    await waitFor(async () => (await db.accessRequest.count({ where: { state: 'active' } })) === PEOPLE, 60_000);
    for (let i = 0; i < PEOPLE; i++) expect(await hasRole(person(i).principal)).toBe(true);

    await waitFor(async () => (await db.accessRequest.count({ where: { state: 'revoked' } })) === PEOPLE, 120_000);
    for (let i = 0; i < PEOPLE; i++) expect(await hasRole(person(i).principal)).toBe(false);
    const grants = await db.grant.findMany();
    expect(grants.map((grant) => [grant.grantAttempts, grant.revokeAttempts])).toEqual(Array.from({ length: PEOPLE }, () => [1, 1]));
    const counts = await db.auditEvent.groupBy({ by: ['action'], where: { action: { in: ['grant.granted', 'grant.revoked'] } }, _count: true });
    expect(Object.fromEntries(counts.map((row) => [row.action, row._count]))).toEqual({ 'grant.granted': PEOPLE, 'grant.revoked': PEOPLE });
  });
});
