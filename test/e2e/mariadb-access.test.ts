import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SLACK_EVENTS_PATH } from '../../src/slack/app.ts';
import { createDatabase, type Database } from '../../src/store/database.ts';
import { FakeSlack } from '../../tools/sandbox/fake-slack.ts';
import { freePort } from '../helpers/free-port.ts';
import { LatchProcess } from '../helpers/latch-process.ts';
import { createMariadbGrantor } from '../helpers/mariadb-grantor.ts';
import { PrivateMariadb } from '../helpers/private-mariadb.ts';
import { PrivateRedis } from '../helpers/private-redis.ts';
import { SlackSender } from '../helpers/slack-sender.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.ts';
import { waitForValue } from '../helpers/wait-for-value.ts';

/**
 * Latch as an operator runs it, on a real MariaDB: a `latch start` process (the real Bolt app over
 * HTTP, the real BullMQ queues, the mysql provider) grants a role when a Slack approval arrives,
 * and at expiry revokes it and ends the person's open session, which MariaDB would otherwise let
 * keep reading. Only Slack is faked. Started through the test entry, so access lasts seconds.
 */

const SIGNING_SECRET = 'e2e-signing-secret-0123456789abcdef';
const BOT_TOKEN = 'xoxb-2222-3333-e2eBotToken';
const APPROVER = 'U0E2EAPPROVER';
const REQUESTER = 'U0E2EMARIADB';
const PRINCIPAL = 'nina';
const PASSWORD = 'nina-password';
const ROLE = 'incidents_read';
const GRANT_SECONDS = 15;

let server: PrivateMariadb;
let admin: mysql.Connection;
let slack: FakeSlack;
let database: TestDatabase;
let db: Database;
let redis: PrivateRedis;
let latch: LatchProcess;
let port: number;
const sessions: mysql.Connection[] = [];

beforeAll(async () => {
  server = await PrivateMariadb.start();
  admin = await server.admin();
  await admin.query('CREATE DATABASE ops');
  await admin.query('CREATE TABLE ops.incidents (id INT)');
  await admin.query(`CREATE ROLE ${ROLE}`);
  await admin.query(`GRANT SELECT ON ops.incidents TO ${ROLE}`);
  await admin.query('CREATE USER ?@? IDENTIFIED BY ?', [PRINCIPAL, '%', PASSWORD]);
  const grantorUrl = await createMariadbGrantor(server, admin, [ROLE]);

  slack = await FakeSlack.start({ botToken: BOT_TOKEN });
  database = await createTestDatabase();
  db = createDatabase({ databaseUrl: database.url, poolSize: 2 });
  redis = await PrivateRedis.start();
  const policyFile = join(mkdtempSync(join(tmpdir(), 'latch-e2e-mariadb-')), 'policy.yaml');
  writeFileSync(
    policyFile,
    `
resources:
  - id: ops-db
    name: Ops database
    provider:
      type: mysql
      settings:
        dialect: mariadb
        connectionStringEnv: OPS_DB_URL
        roles: { read: ${ROLE} }
    identity:
      from: map-only
      map:
        ${REQUESTER}: ${PRINCIPAL}
    roles: [read]
    maxDuration: 1h
    approvers: { users: [${APPROVER}] }
    approvalChannel: C0E2EAPPROVALS
`,
  );
  port = await freePort();
  latch = new LatchProcess(
    ['start'],
    {
      DATABASE_URL: database.url,
      REDIS_URL: redis.url,
      SLACK_BOT_TOKEN: BOT_TOKEN,
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_API_URL: slack.apiUrl,
      LATCH_POLICY_FILE: policyFile,
      OPS_DB_URL: grantorUrl,
      LOG_LEVEL: 'info',
      PORT: String(port),
    },
    { shortGrants: true },
  );
  await latch.waitForLog((line) => typeof line.msg === 'string' && line.msg.startsWith('latch is listening'), 60_000);
}, 180_000);

afterAll(async () => {
  await Promise.all(sessions.map((session) => session.end().catch(() => undefined)));
  await latch?.kill('SIGKILL');
  await db?.$disconnect();
  await redis?.stop();
  await database?.drop();
  await slack?.close();
  await admin?.end();
  await server?.stop();
});

async function holdsRole(): Promise<boolean> {
  const [rows] = await admin.query('SELECT 1 FROM mysql.roles_mapping WHERE User = ? AND Host = ? AND Role = ?', [PRINCIPAL, '%', ROLE]);
  return (rows as unknown[]).length > 0;
}

async function readsIncidents(session: mysql.Connection): Promise<boolean> {
  return session.query('SELECT count(*) FROM ops.incidents').then(
    () => true,
    () => false,
  );
}

const stateOf = async (id: string) => (await db.accessRequest.findUniqueOrThrow({ where: { id } })).state;

describe('a real MariaDB role, granted and revoked by latch start', () => {
  it('grants on approval as the default role, and at expiry revokes it and ends the open session', { timeout: 180_000 }, async () => {
    const sender = new SlackSender(`http://127.0.0.1:${port}${SLACK_EVENTS_PATH}`, SIGNING_SECRET, (id) => slack.responseUrl(id));
    const response = await sender.command(REQUESTER, `ops-db read ${GRANT_SECONDS}s end-to-end on MariaDB`);
    expect(response.status).toBe(200);
    const request = await waitForValue(() => db.accessRequest.findFirst({ where: { requesterSlackId: REQUESTER, approvalMessageTs: { not: null } } }));
    expect(await holdsRole()).toBe(false);
    await sender.click(APPROVER, 'latch_approve', request.id, 'C0E2EAPPROVALS');
    await waitForValue(async () => ((await stateOf(request.id)) === 'active' ? true : undefined));
    expect(await holdsRole()).toBe(true);

    // A person's login, with no SET ROLE: the default role is active.
    const session = await mysql.createConnection(server.url(PRINCIPAL, PASSWORD));
    session.on('error', () => undefined);
    sessions.push(session);
    expect(await readsIncidents(session)).toBe(true);

    await waitForValue(async () => ((await stateOf(request.id)) === 'revoked' ? true : undefined), (GRANT_SECONDS + 45) * 1000);
    expect(await holdsRole()).toBe(false);
    expect(await readsIncidents(session)).toBe(false);
    const [rows] = await admin.query('SELECT count(*) AS n FROM information_schema.PROCESSLIST WHERE USER = ?', [PRINCIPAL]);
    expect(Number((rows as Array<{ n: number }>)[0]?.n)).toBe(0);
    const grant = await db.grant.findUniqueOrThrow({ where: { requestId: request.id } });
    expect(grant.revokedAt!.getTime()).toBeGreaterThanOrEqual(grant.expiresAt!.getTime());
    // The provider looked again after revoking and found the role gone: recorded as verified.
    expect(grant.verifiedRevokedAt).toEqual(grant.revokedAt);
  });
});
