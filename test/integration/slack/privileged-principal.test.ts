import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createProviders } from '../../../src/providers/registry.ts';
import type { AccessProvider } from '../../../src/providers/provider.ts';
import { END_ACCESS } from '../../../src/slack/blocks/ids.ts';
import type { FakeSlackCall } from '../../../tools/sandbox/fake-slack.ts';
import { LatchHarness } from '../../helpers/latch-harness.ts';
import { adminQuery, withDatabaseName } from '../../helpers/test-database.ts';
import { SECURITY_CHANNEL, testPolicy, testResource } from '../../helpers/test-policy.ts';

/**
 * Issue 14, point 2, end to end on a real PostgreSQL: a Slack profile email must never decide
 * whose privileged account is changed. The postgres provider is built by the registry from the
 * policy (as `latch start` builds it) and connects as a grantor holding only what its README asks
 * for; Latch runs behind the real Bolt app, with only Slack faked. Whether anything changed on the
 * target is asked of the target itself (pg_auth_members, pg_has_role), as its superuser.
 */

const { escapeIdentifier } = pg;
const suffix = randomBytes(4).toString('hex');
const databaseName = `latch_priv_${suffix}`;
const grantor = `latch_grantor_${suffix}`;
const managedRole = `latch_priv_reader_${suffix}`;
const person = `ada_${suffix}`;
const service = `svc_reporting_${suffix}`;
const APPROVER = 'U0APPROVER1';

let adminUrl: string;
let admin: pg.Client;
let provider: AccessProvider;
let h: LatchHarness;

beforeAll(async () => {
  adminUrl = inject('adminDatabaseUrl');
  await adminQuery(adminUrl, `CREATE DATABASE ${databaseName}`);
  admin = new pg.Client({ connectionString: withDatabaseName(adminUrl, databaseName) });
  await admin.connect();
  await admin.query(`CREATE ROLE ${grantor} LOGIN`);
  await admin.query(`GRANT pg_signal_backend TO ${grantor}`);
  await admin.query(`CREATE ROLE ${managedRole} NOLOGIN`);
  await admin.query(`GRANT ${managedRole} TO ${grantor} WITH ADMIN OPTION`);
  await admin.query(`CREATE ROLE ${person} LOGIN`);
  await admin.query(`CREATE ROLE ${service} LOGIN`);
  await admin.query(`GRANT ${managedRole} TO ${service}`);

  const grantorUrl = new URL(withDatabaseName(adminUrl, databaseName));
  grantorUrl.username = grantor;
  grantorUrl.password = '';
  const policy = testPolicy([
    testResource({
      provider: { type: 'postgres', settings: { connectionStringEnv: 'PRIV_DB_URL', roles: { read: managedRole } } },
      identity: { map: {}, from: 'email', template: '{localpart}', domains: ['example.com'] },
      roles: [{ id: 'read', maxDurationSeconds: 3600 }],
      approvers: { users: [APPROVER], groups: [], required: 1, oneFrom: [] },
      permanentHolders: [service],
    }),
  ]);
  // The postgres provider takes no target lock (its checks and changes share one transaction).
  const services = { locks: { withLock: <T>(_key: string, work: () => Promise<T>) => work() } };
  const built = await createProviders(policy, { PRIV_DB_URL: grantorUrl.toString() }, services);
  if (!built.ok) throw new Error(built.problems.join('\n'));
  provider = built.providers.get('prod-db')!;
  h = await LatchHarness.start(policy, { provider });
});

afterAll(async () => {
  await h?.close();
  await provider?.close?.();
  await admin?.end().catch(() => undefined);
  await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${databaseName} WITH (FORCE)`);
  for (const role of [person, service, managedRole, grantor]) await adminQuery(adminUrl, `DROP ROLE IF EXISTS ${escapeIdentifier(role)}`);
});

/** The grantor's own membership in the managed role, as pg_auth_members holds it. */
async function grantorMembership(): Promise<{ admin_option: boolean } | null> {
  const { rows } = await admin.query<{ admin_option: boolean }>(
    `SELECT m.admin_option FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
     WHERE r.rolname = $1 AND u.rolname = $2`,
    [managedRole, grantor],
  );
  return rows[0] ?? null;
}

async function hasRole(principal: string): Promise<boolean> {
  const { rows } = await admin.query<{ member: boolean }>(`SELECT pg_has_role($1::name, $2::name, 'MEMBER') AS member`, [principal, managedRole]);
  return rows[0]?.member === true;
}

async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const text = (call: FakeSlackCall | undefined) => JSON.stringify(call?.args.blocks ?? []) + String(call?.args.text ?? '');

/** `/request-access prod-db read 30m …` by a person whose Slack profile shows `email`: what Slack is told back. */
async function requestAs(slackId: string, email: string): Promise<string> {
  h.slack.addUser({ id: slackId, name: slackId.toLowerCase(), email });
  const id = `cmd-${randomUUID()}`;
  await h.command(slackId, 'prod-db read 30m checking the slow report', id);
  const answer = await h.slack.waitForCall('response_url', (call) => call.args.id === id);
  return String(answer.args.text);
}

describe('a Slack email that names a privileged account on the target', () => {
  it('refuses latch_grantor@<an allowed domain> when asked, with a clear message, and the grantor keeps its ADMIN OPTION', async () => {
    expect(await grantorMembership()).toEqual({ admin_option: true });
    const answer = await requestAs('U0MALLORY', `${grantor}@example.com`);
    expect(answer).toContain(`Latch will not change the account "${grantor}" on Production database: it is the account Latch itself connects as (the grantor).`);
    expect(await h.db.accessRequest.count({ where: { requesterSlackId: 'U0MALLORY' } })).toBe(0);
    expect(await grantorMembership()).toEqual({ admin_option: true });
  });

  it('refuses latch_grantor@anything: a domain the policy does not list gives no account at all', async () => {
    const answer = await requestAs('U0MALLORY2', `${grantor}@anything.example`);
    expect(answer).toContain("its accounts belong to @example.com addresses, and your Slack profile's email is at @anything.example.");
    expect(await h.db.accessRequest.count({ where: { requesterSlackId: 'U0MALLORY2' } })).toBe(0);
  });

  it('refuses a permanent holder and a managed role named by an email', async () => {
    expect(await requestAs('U0SVC', `${service}@example.com`)).toContain(`Latch will not change the account "${service}" on Production database: the policy lists it among the accounts that hold access there permanently`);
    expect(await requestAs('U0ROLE', `${managedRole}@example.com`)).toContain(`Latch will not change the account "${managedRole}" on Production database: it is a role Latch grants to people`);
    expect(await h.db.accessRequest.count({ where: { requesterSlackId: { in: ['U0SVC', 'U0ROLE'] } } })).toBe(0);
    expect(await hasRole(service)).toBe(true);
  });

  it('refuses the grantor in the provider too, called directly: no GRANT, no REVOKE', async () => {
    const grant = { grantId: randomUUID(), requestId: randomUUID(), resourceId: 'prod-db', role: 'read', principal: grantor, expiresAt: new Date(Date.now() + 60_000) };
    expect(await provider.grant(grant)).toEqual({ ok: false, failure: { kind: 'permanent', message: expect.stringContaining('the account Latch itself connects as (the grantor)') } });
    expect(await provider.revoke(grant)).toEqual({ ok: false, failure: { kind: 'permanent', message: expect.stringContaining('nothing was changed') } });
    expect(await grantorMembership()).toEqual({ admin_option: true });
  });

  it('still grants an ordinary person, and "I\'m done" on access recorded for the grantor (as main stored it) changes nothing and alerts the security channel', async () => {
    const answer = await requestAs('U0ADA', `${person}@example.com`);
    expect(answer).toContain('Request sent');
    const request = await h.db.accessRequest.findFirstOrThrow({ where: { requesterSlackId: 'U0ADA' } });
    expect(request.principal).toBe(person);
    await waitFor(async () => (await h.db.accessRequest.findUniqueOrThrow({ where: { id: request.id } })).approvalMessageTs !== null);
    await h.click(APPROVER, 'latch_approve', request.id);
    await waitFor(async () => (await h.db.accessRequest.findUniqueOrThrow({ where: { id: request.id } })).state === 'active');
    expect(await hasRole(person)).toBe(true);

    // A request stored before this check existed named the grantor (its email was latch_grantor@…).
    await h.db.grant.update({ where: { requestId: request.id }, data: { principal: grantor } });
    await h.db.accessRequest.update({ where: { id: request.id }, data: { principal: grantor } });
    await h.click('U0ADA', END_ACCESS, request.id, 'D0ADA', 'latch_active_access_actions');
    await h.slack.waitForCall('chat.postMessage', (c) => c.args.channel === SECURITY_CHANNEL && text(c).includes('Revocation overdue'), 30_000);
    const grant = await h.db.grant.findUniqueOrThrow({ where: { requestId: request.id } });
    expect(grant.revokedAt).toBeNull();
    expect(await grantorMembership()).toEqual({ admin_option: true });
    // The details are in the audit trail (Slack shows people a short notice).
    const events = await h.db.auditEvent.findMany({ where: { requestId: request.id }, orderBy: { seq: 'asc' } });
    expect(events.map((event) => event.action)).not.toContain('grant.revoked');
    const overdue = events.find((event) => event.action === 'grant.revocation_overdue');
    expect(overdue?.data).toMatchObject({ kind: 'permanent', message: expect.stringMatching(/refused to revoke .*the account Latch itself connects as \(the grantor\); nothing was changed/) });
  });
});
