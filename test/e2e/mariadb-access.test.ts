import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMariadbGrantor } from '../helpers/mariadb-grantor.ts';
import { PrivateMariadb } from '../helpers/private-mariadb.ts';
import { waitForValue } from '../helpers/wait-for-value.ts';
import { startE2eLatch, type E2eLatch } from '../helpers/e2e-latch.ts';
import type { Database } from '../../src/store/database.ts';

/**
 * Latch as an operator runs it, on a real MariaDB: a `latch start` process (the real Bolt app over
 * HTTP, the real BullMQ queues, the mysql provider) grants a role when a Slack approval arrives,
 * and at expiry revokes it and ends the person's open session, which MariaDB would otherwise let
 * keep reading. Only Slack is faked. Started through the test entry, so access lasts seconds.
 */

const APPROVER = 'U0E2EAPPROVER';
const REQUESTER = 'U0E2EMARIADB';
const PRINCIPAL = 'nina';
const PASSWORD = 'nina-password';
const ROLE = 'incidents_read';
const GRANT_SECONDS = 15;

let e2e: E2eLatch;
let db: Database;
let server: PrivateMariadb;
let admin: mysql.Connection;
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

  e2e = await startE2eLatch({
    name: 'mariadb',
    policyYaml: `
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
    env: {
      OPS_DB_URL: grantorUrl,
    },
  });
  ({ db } = e2e);
}, 180_000);

afterAll(async () => {
  await e2e?.close();
  await Promise.all(sessions.map((session) => session.end().catch(() => undefined)));
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
    const { sender } = e2e;
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
