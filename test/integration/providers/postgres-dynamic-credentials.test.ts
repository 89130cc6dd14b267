import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/logging/logger.ts';
import { dynamicLoginName } from '../../../src/providers/postgres/dynamic-login.ts';
import { createPostgresProvider } from '../../../src/providers/postgres/postgres-provider.ts';
import type { AccessProvider, IssuedCredentials, ProviderGrant } from '../../../src/providers/provider.ts';
import { PrivatePostgres } from '../../helpers/private-postgres.ts';

/**
 * `credentials: dynamic` against a real PostgreSQL that checks passwords (a server of the test's
 * own: the shared one trusts loopback, where any password gets in). The login Latch creates
 * really accepts the password it hands out and nothing else, really stops at VALID UNTIL, and
 * really disappears at revoke; the password is in no log line, Latch's nor the server's.
 */

const DATABASE = 'app';
const ROLE = 'app_reader';
const GRANTOR_PASSWORD = 'grantor-password-0123456789';

let server: PrivatePostgres;
let admin: pg.Client;
let provider: AccessProvider;
const logLines: string[] = [];
const issuedPasswords: string[] = [];
const clients: pg.Client[] = [];

beforeAll(async () => {
  server = await PrivatePostgres.start();
  const postgres = new pg.Client({ connectionString: server.adminUrl });
  await postgres.connect();
  await postgres.query(`CREATE DATABASE ${DATABASE}`);
  await postgres.end();
  admin = new pg.Client({ connectionString: server.urlFor('latch', new URL(server.adminUrl).password, DATABASE) });
  await admin.connect();
  await admin.query(`CREATE ROLE ${ROLE} NOLOGIN`);
  await admin.query(`CREATE TABLE incidents (id int); INSERT INTO incidents VALUES (7)`);
  await admin.query(`GRANT SELECT ON incidents TO ${ROLE}`);
  // So a login can leave something behind that its revocation must clean up.
  await admin.query(`GRANT CREATE ON SCHEMA public TO ${ROLE}`);
  // The grantor as the README asks for it with dynamic credentials: CREATEROLE, ADMIN OPTION, pg_signal_backend.
  await admin.query(`CREATE ROLE latch_grantor LOGIN CREATEROLE PASSWORD '${GRANTOR_PASSWORD}'`);
  await admin.query(`GRANT ${ROLE} TO latch_grantor WITH ADMIN OPTION`);
  await admin.query('GRANT pg_signal_backend TO latch_grantor');
  provider = newProvider({ connectionLimit: 1 });
}, 60_000);

afterAll(async () => {
  for (const client of clients) await client.end().catch(() => undefined);
  await provider?.close?.();
  await admin?.end();
  await server?.stop();
});

function newProvider(settings: Record<string, unknown> = {}): AccessProvider {
  const logger = createLogger({ level: 'debug', destination: { write: (line: string) => void logLines.push(line) } });
  const created = createPostgresProvider(
    { connectionStringEnv: 'TARGET_DB_URL', credentials: 'dynamic', roles: { read: ROLE }, ...settings },
    { TARGET_DB_URL: server.urlFor('latch_grantor', GRANTOR_PASSWORD, DATABASE) },
    { logger },
  );
  if (!created.ok) throw new Error(created.problems.join('; '));
  return created.provider;
}

function grantFor(expiresInMs = 3_600_000): ProviderGrant {
  const requestId = randomUUID();
  return { grantId: randomUUID(), requestId, resourceId: 'app-db', role: 'read', principal: dynamicLoginName(requestId), expiresAt: new Date(Date.now() + expiresInMs) };
}

async function issue(grant: ProviderGrant): Promise<IssuedCredentials> {
  const issued = await provider.issueCredentials!(grant);
  if (!issued.ok) throw new Error(issued.failure.message);
  issuedPasswords.push(issued.value.password);
  return issued.value;
}

/** Logs in over TCP with the credentials, as their holder would: the client, or the server's refusal. */
async function logIn(credentials: Pick<IssuedCredentials, 'host' | 'port' | 'database' | 'user' | 'password'>): Promise<{ client: pg.Client } | { refused: string }> {
  const client = new pg.Client({ host: credentials.host, port: credentials.port, database: credentials.database, user: credentials.user, password: credentials.password });
  client.on('error', () => undefined);
  try {
    await client.connect();
    clients.push(client);
    return { client };
  } catch (error) {
    await client.end().catch(() => undefined);
    return { refused: String((error as { code?: string }).code ?? (error as Error).message) };
  }
}

async function roleFacts(name: string) {
  const { rows } = await admin.query<{ rolcanlogin: boolean; rolconnlimit: number; rolvaliduntil: Date | null; rolpassword: string | null; comment: string | null }>(
    `SELECT rolcanlogin, rolconnlimit, rolvaliduntil, rolpassword, shobj_description(oid, 'pg_authid') AS comment FROM pg_authid WHERE rolname = $1`,
    [name],
  );
  return rows[0];
}

describe('postgres provider with credentials: dynamic', { timeout: 60_000 }, () => {
  it('creates a login that accepts only the password it hands out, with the role, a connection limit and VALID UNTIL', async () => {
    const grant = grantFor();
    expect(await provider.grant(grant)).toEqual({ ok: true, value: undefined });
    const created = await roleFacts(grant.principal);
    expect(created).toMatchObject({ rolcanlogin: true, rolconnlimit: 1, rolpassword: null, comment: expect.stringContaining('latch') });
    expect(Math.abs(created!.rolvaliduntil!.getTime() - grant.expiresAt.getTime())).toBeLessThan(1_000);
    // No password until it is fetched: nobody can log in as it yet.
    expect(await logIn({ ...server.endpoint(DATABASE), user: grant.principal, password: 'anything' })).toEqual({ refused: '28P01' });
    expect(await provider.check(grant)).toEqual({ ok: true, value: true });

    const credentials = await issue(grant);
    expect(credentials).toMatchObject({ ...server.endpoint(DATABASE), user: grant.principal });
    expect(credentials.password).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const stored = (await roleFacts(grant.principal))!.rolpassword!;
    expect(stored).toMatch(/^SCRAM-SHA-256\$4096:/);
    expect(stored).not.toContain(credentials.password);

    const session = await logIn(credentials);
    if (!('client' in session)) throw new Error(`the login was refused: ${session.refused}`);
    expect((await session.client.query('SELECT id FROM incidents')).rows).toEqual([{ id: 7 }]);
    // Connection limit 1: a second session at once is refused.
    expect(await logIn(credentials)).toEqual({ refused: '53300' });
    expect(await logIn({ ...credentials, password: credentials.password.slice(1) + 'x' })).toEqual({ refused: '28P01' });
    await session.client.end();
    clients.splice(clients.indexOf(session.client), 1);
  });

  it('revokes by ending its sessions and dropping the login, with anything it made; again is done already', async () => {
    const grant = grantFor();
    await provider.grant(grant);
    const credentials = await issue(grant);
    const session = await logIn(credentials);
    if (!('client' in session)) throw new Error(`the login was refused: ${session.refused}`);
    await session.client.query('CREATE TABLE left_behind (id int)');
    const ended = new Promise((resolve) => session.client.once('error', resolve));

    expect(await provider.revoke(grant)).toEqual({ ok: true, value: undefined });
    await ended;
    expect(await roleFacts(grant.principal)).toBeUndefined();
    expect((await admin.query("SELECT 1 FROM pg_tables WHERE tablename = 'left_behind'")).rowCount).toBe(0);
    expect(await logIn(credentials)).toEqual({ refused: '28P01' });
    expect(await provider.revoke(grant)).toEqual({ ok: true, value: undefined });
    expect(await provider.check(grant)).toEqual({ ok: true, value: false });
    const late = await provider.issueCredentials!(grant);
    expect(late).toMatchObject({ ok: false, failure: { kind: 'permanent', message: expect.stringContaining('no longer exists') } });
  });

  it('lets the database refuse the login after VALID UNTIL, with no Latch involved', async () => {
    const grant = grantFor(3_000);
    await provider.grant(grant);
    const credentials = await issue(grant);
    const before = await logIn(credentials);
    expect(before).toHaveProperty('client');
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, grant.expiresAt.getTime() - Date.now()) + 500));
    expect(await logIn(credentials)).toEqual({ refused: '28P01' });
    expect(await provider.revoke(grant)).toEqual({ ok: true, value: undefined });
  });

  it('extends VALID UNTIL when the same login is granted again for longer, and never shortens it', async () => {
    const grant = grantFor(60_000);
    await provider.grant(grant);
    const later = { ...grant, grantId: randomUUID(), expiresAt: new Date(Date.now() + 7_200_000) };
    await provider.grant(later);
    expect((await roleFacts(grant.principal))!.rolvaliduntil!.getTime()).toBe(later.expiresAt.getTime());
    await provider.grant(grant);
    expect((await roleFacts(grant.principal))!.rolvaliduntil!.getTime()).toBe(later.expiresAt.getTime());
    await provider.revoke(grant);
  });

  it('never creates, changes nor drops a role it did not make', async () => {
    const foreign = grantFor();
    await admin.query(`CREATE ROLE ${pg.escapeIdentifier(foreign.principal)} LOGIN PASSWORD 'theirs'`);
    const granted = await provider.grant(foreign);
    expect(granted).toMatchObject({ ok: false, failure: { kind: 'permanent', message: expect.stringContaining('Latch did not create') } });
    expect(await provider.revoke(foreign)).toMatchObject({ ok: false, failure: { kind: 'permanent' } });
    expect(await provider.issueCredentials!(foreign)).toMatchObject({ ok: false, failure: { kind: 'permanent' } });
    expect(await roleFacts(foreign.principal)).toMatchObject({ rolcanlogin: true, comment: null });
    expect(await provider.checkPrincipal!(foreign.principal, 'read')).toMatchObject({ ok: false, failure: { kind: 'permanent' } });
    await admin.query(`DROP ROLE ${pg.escapeIdentifier(foreign.principal)}`);

    // A person's login is never a dynamic login's name, whatever a request says.
    const person = { ...grantFor(), principal: 'latch_grantor' };
    expect(await provider.grant(person)).toMatchObject({ ok: false, failure: { kind: 'permanent', message: expect.stringContaining('not a login Latch creates') } });
    expect(await provider.revoke(person)).toMatchObject({ ok: false, failure: { kind: 'permanent' } });
    expect(await roleFacts('latch_grantor')).toMatchObject({ rolcanlogin: true });
  });

  it('watches a single-use login: one session, no other once it is seen, used up when it ends', async () => {
    const grant = { ...grantFor(), singleUse: true };
    await provider.grant(grant);
    expect(await roleFacts(grant.principal)).toMatchObject({ rolconnlimit: 1 });
    expect(await provider.watchSingleUse!(grant)).toEqual({ ok: true, value: 'unused' });
    const credentials = await issue(grant);
    const session = await logIn(credentials);
    if (!('client' in session)) throw new Error(`the login was refused: ${session.refused}`);
    expect(await provider.watchSingleUse!(grant)).toEqual({ ok: true, value: 'in_use' });
    expect(await roleFacts(grant.principal)).toMatchObject({ rolcanlogin: false });
    // The session goes on; no other can start, even once the first has ended.
    expect((await session.client.query('SELECT id FROM incidents')).rows).toEqual([{ id: 7 }]);
    expect(await provider.watchSingleUse!(grant)).toEqual({ ok: true, value: 'in_use' });
    await session.client.end();
    clients.splice(clients.indexOf(session.client), 1);
    await expect.poll(async () => (await provider.watchSingleUse!(grant)), { timeout: 10_000 }).toEqual({ ok: true, value: 'used' });
    expect(await logIn(credentials)).toEqual({ refused: '28000' });
    expect(await provider.revoke(grant)).toEqual({ ok: true, value: undefined });
    expect(await provider.watchSingleUse!(grant)).toEqual({ ok: true, value: 'used' });
  });

  it('writes no password to its log, nor lets one reach the server’s statement log', () => {
    expect(issuedPasswords.length).toBeGreaterThanOrEqual(4);
    expect(logLines.length).toBeGreaterThan(0);
    const serverLog = server.serverLog();
    expect(serverLog).toContain('ALTER ROLE');
    for (const password of issuedPasswords) {
      expect(logLines.join('\n')).not.toContain(password);
      expect(serverLog).not.toContain(password);
    }
  });
});
