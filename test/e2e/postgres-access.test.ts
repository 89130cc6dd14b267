import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import pg from 'pg';
import { afterAll, beforeAll, describe, inject, it } from 'vitest';
import { SLACK_EVENTS_PATH } from '../../src/slack/app.ts';
import { createDatabase, type Database } from '../../src/store/database.ts';
import { FakeSlack } from '../../tools/sandbox/fake-slack.ts';
import { FreezableProxy } from '../helpers/freezable-proxy.ts';
import { freePort } from '../helpers/free-port.ts';
import { LatchProcess } from '../helpers/latch-process.ts';
import { PrivateRedis } from '../helpers/private-redis.ts';
import { SlackSender } from '../helpers/slack-sender.ts';
import { adminQuery, createTestDatabase, withDatabaseName, type TestDatabase } from '../helpers/test-database.ts';
import { waitForValue } from '../helpers/wait-for-value.ts';

/**
 * Latch as an operator runs it: `latch start` processes (the real Bolt app over HTTP, the real
 * BullMQ queues, the postgres provider) granting a real role on a real target database, with only
 * Slack faked. Each scenario has a Latch database and a Redis of its own, so one can FLUSHALL its
 * Redis or kill its process without touching the others. The processes are started through the
 * test entry (LatchProcess's `shortGrants`), so access lasts seconds, not the minute a deployment
 * needs at least; the scenarios still run concurrently, as some wait out BullMQ's stalled-job check.
 */

const SIGNING_SECRET = 'e2e-signing-secret-0123456789abcdef';
const BOT_TOKEN = 'xoxb-2222-3333-e2eBotToken';
const APPROVER = 'U0E2EAPPROVER';
const suffix = randomBytes(4).toString('hex');
const targetName = `latch_e2e_target_${suffix}`;
/** The role Latch hands out; it may read one table on the target. */
const managedRole = `latch_e2e_reader_${suffix}`;
const SCENARIOS = ['scaleout', 'flushall', 'killed', 'stopped', 'overlap', 'removed'] as const;
type Scenario = (typeof SCENARIOS)[number];
const slackIdOf = (scenario: Scenario) => `U0E2E${scenario.toUpperCase()}`;
const principalOf = (scenario: Scenario) => `latch_e2e_${scenario}_${suffix}`;

let slack: FakeSlack;
let adminUrl: string;
let targetUrl: string;
let admin: pg.Client;
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  slack = await FakeSlack.start({ botToken: BOT_TOKEN });
  adminUrl = inject('adminDatabaseUrl');
  await adminQuery(adminUrl, `CREATE DATABASE ${targetName}`);
  targetUrl = withDatabaseName(adminUrl, targetName);
  admin = new pg.Client({ connectionString: targetUrl });
  await admin.connect();
  await admin.query(`CREATE ROLE ${managedRole} NOLOGIN`);
  await admin.query('CREATE TABLE incidents (id int)');
  await admin.query(`GRANT SELECT ON incidents TO ${managedRole}`);
  for (const scenario of SCENARIOS) await admin.query(`CREATE ROLE ${principalOf(scenario)} LOGIN`);
});

afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  await admin?.end();
  await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${targetName} WITH (FORCE)`);
  for (const scenario of SCENARIOS) await adminQuery(adminUrl, `DROP ROLE IF EXISTS ${principalOf(scenario)}`);
  await adminQuery(adminUrl, `DROP ROLE IF EXISTS ${managedRole}`);
  await slack?.close();
});

function policyYaml(): string {
  const map = SCENARIOS.map((scenario) => `        ${slackIdOf(scenario)}: ${principalOf(scenario)}`).join('\n');
  return `
resources:
  - id: target-db
    name: Target database
    provider:
      type: postgres
      settings:
        connectionStringEnv: TARGET_DB_URL
        roles: { read: ${managedRole} }
    identity:
      from: map-only
      map:
${map}
    roles: [read]
    maxDuration: 1h
    approvers: { users: [${APPROVER}] }
    approvalChannel: C0E2EAPPROVALS
`;
}

/** One Latch deployment: its database, its Redis, and the `latch start` processes serving it. */
class Stack {
  readonly processes: LatchProcess[] = [];
  private readonly ports: number[] = [];

  private constructor(
    readonly db: Database,
    readonly redis: PrivateRedis,
    private readonly env: Record<string, string>,
  ) {}

  /** The policy file the processes read (and reload when it changes). */
  get policyFile(): string {
    return this.env.LATCH_POLICY_FILE!;
  }

  static async start(options: { processes?: number; targetUrl?: string } = {}): Promise<Stack> {
    const database: TestDatabase = await createTestDatabase();
    const redis = await PrivateRedis.start();
    const policyFile = join(mkdtempSync(join(tmpdir(), 'latch-e2e-')), 'policy.yaml');
    writeFileSync(policyFile, policyYaml());
    const db = createDatabase({ databaseUrl: database.url, poolSize: 2 });
    const stack = new Stack(db, redis, {
      DATABASE_URL: database.url,
      REDIS_URL: redis.url,
      SLACK_BOT_TOKEN: BOT_TOKEN,
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_API_URL: slack.apiUrl,
      LATCH_POLICY_FILE: policyFile,
      TARGET_DB_URL: options.targetUrl ?? targetUrl,
      LOG_LEVEL: 'info',
    });
    cleanups.push(async () => {
      await Promise.all(stack.processes.map((latch) => latch.kill('SIGKILL')));
      await db.$disconnect();
      await redis.stop();
      await database.drop();
    });
    for (let i = 0; i < (options.processes ?? 1); i++) await stack.startProcess();
    return stack;
  }

  /** Starts one more `latch start` and resolves once it listens. */
  async startProcess(): Promise<LatchProcess> {
    const port = await freePort();
    const latch = new LatchProcess(['start'], { ...this.env, PORT: String(port) }, { shortGrants: true });
    this.processes.push(latch);
    this.ports.push(port);
    await latch.waitForLog((line) => typeof line.msg === 'string' && line.msg.startsWith('latch is listening'), 60_000);
    return latch;
  }

  /** Slack, sending to the newest running process. */
  get slack(): SlackSender {
    return new SlackSender(`http://127.0.0.1:${this.ports.at(-1)}${SLACK_EVENTS_PATH}`, SIGNING_SECRET, (id) => slack.responseUrl(id));
  }

  /** `/request-access target-db read <duration>` by the scenario's person, approved: resolves with the request id once its access is active. */
  async requestApproved(scenario: Scenario, duration: string): Promise<string> {
    const requester = slackIdOf(scenario);
    const known = new Set((await this.db.accessRequest.findMany({ where: { requesterSlackId: requester }, select: { id: true } })).map((r) => r.id));
    const response = await this.slack.command(requester, `target-db read ${duration} end-to-end scenario ${scenario}`);
    if (response.status !== 200) throw new Error(`the command got HTTP ${response.status}`);
    const request = await waitForValue(async () => {
      const found = await this.db.accessRequest.findFirst({ where: { requesterSlackId: requester, approvalMessageTs: { not: null } }, orderBy: { createdAt: 'desc' } });
      return found && !known.has(found.id) ? found : undefined;
    });
    await this.slack.click(APPROVER, 'latch_approve', request.id, 'C0E2EAPPROVALS');
    await waitFor(async () => (await this.stateOf(request.id)) === 'active', 30_000);
    return request.id;
  }

  async stateOf(requestId: string): Promise<string> {
    return (await this.db.accessRequest.findUniqueOrThrow({ where: { id: requestId } })).state;
  }

  grantOf(requestId: string) {
    return this.db.grant.findUniqueOrThrow({ where: { requestId } });
  }

  auditActions(requestId: string): Promise<string[]> {
    return this.db.auditEvent.findMany({ where: { requestId }, orderBy: { seq: 'asc' } }).then((events) => events.map((event) => event.action));
  }

  /** Latch's grant queue as BullMQ sees it on this stack's Redis. */
  queue(name: 'latch-grants' | 'latch-revocations'): Queue {
    const connection = this.redis.client({ maxRetriesPerRequest: null });
    const queue = new Queue(name, { connection, prefix: 'latch' });
    cleanups.push(async () => {
      await queue.close();
      connection.disconnect();
    });
    return queue;
  }
}

/** pg_has_role on the target, asked as its superuser: the target's own answer, not Latch's. */
async function hasRole(principal: string): Promise<boolean> {
  const { rows } = await admin.query<{ member: boolean }>(`SELECT pg_has_role($1::name, $2::name, 'MEMBER') AS member`, [principal, managedRole]);
  return rows[0]?.member === true;
}

async function sessionsOf(principal: string): Promise<number> {
  const { rows } = await admin.query<{ count: string }>('SELECT count(*) FROM pg_stat_activity WHERE usename = $1 AND datname = $2', [principal, targetName]);
  return Number(rows[0]?.count);
}

/** A session on the target as the person, reading what only the granted role may read. */
async function openSession(principal: string): Promise<pg.Client> {
  const asPerson = new URL(targetUrl);
  asPerson.username = principal;
  const client = new pg.Client({ connectionString: asPerson.toString() });
  // The session is expected to be ended from the server's side.
  client.on('error', () => undefined);
  await client.connect();
  await client.query('SELECT count(*) FROM incidents');
  cleanups.push(() => client.end());
  return client;
}

async function sessionAlive(client: pg.Client): Promise<boolean> {
  return client.query('SELECT 1').then(
    () => true,
    () => false,
  );
}

async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  await waitForValue(async () => ((await check()) ? true : undefined), timeoutMs);
}

const sleepUntil = (at: Date) => new Promise((resolve) => setTimeout(resolve, Math.max(0, at.getTime() - Date.now())));
/** Long enough for a scenario's checks while the access lasts, on a busy machine. */
const GRANT_SECONDS = 15;
const GRANT = `${GRANT_SECONDS}s`;
/** The grant, the revocation's lateness, and a busy machine. */
const UNTIL_REVOKED_MS = (GRANT_SECONDS + 30) * 1000;

describe.concurrent('a real PostgreSQL role, granted and revoked by latch start', { timeout: 240_000 }, () => {
  it('grants once with two processes and a duplicate grant job, and at expiry revokes the role and ends the open session', async ({ expect }) => {
    const stack = await Stack.start({ processes: 2 });
    const principal = principalOf('scaleout');
    const id = await stack.requestApproved('scaleout', GRANT);
    expect(await hasRole(principal)).toBe(true);
    const session = await openSession(principal);

    // A second grant job for the same request (a retry, a reconcile, another worker): no second grant.
    const grants = stack.queue('latch-grants');
    const duplicate = await grants.add('grant', { requestId: id }, { jobId: `grant-${id}-again` });
    await waitFor(async () => (await duplicate.getState()) === 'completed');
    expect((await stack.grantOf(id)).grantAttempts).toBe(1);
    expect((await stack.auditActions(id)).filter((action) => action === 'grant.granted')).toHaveLength(1);

    await waitFor(async () => (await stack.stateOf(id)) === 'revoked', UNTIL_REVOKED_MS);
    expect(await hasRole(principal)).toBe(false);
    expect(await sessionAlive(session)).toBe(false);
    expect(await sessionsOf(principal)).toBe(0);
    const grant = await stack.grantOf(id);
    expect(grant.revokedAt!.getTime()).toBeGreaterThanOrEqual(grant.expiresAt!.getTime());
    expect(grant.expiresAt!.getTime() - grant.grantedAt!.getTime()).toBe(GRANT_SECONDS * 1000);
    expect((await stack.auditActions(id)).filter((action) => action === 'grant.revoked')).toHaveLength(1);
    // Looked at again after the revoke (membership and sessions): recorded as verified gone.
    expect(grant.verifiedRevokedAt).toEqual(grant.revokedAt);
  });

  it('revokes on time when Redis lost everything between grant and expiry, without a restart', async ({ expect }) => {
    const stack = await Stack.start();
    const principal = principalOf('flushall');
    const id = await stack.requestApproved('flushall', GRANT);
    expect(await hasRole(principal)).toBe(true);
    // The grant queues its revocation just after it commits: lose Redis once it holds it, as the scenario says.
    const revocations = stack.queue('latch-revocations');
    await waitFor(async () => (await revocations.getDelayedCount()) === 1, 10_000);
    await stack.redis.flushAll();
    expect(await revocations.getJobCounts('delayed', 'waiting')).toEqual({ delayed: 0, waiting: 0 });

    await waitFor(async () => (await stack.stateOf(id)) === 'revoked', UNTIL_REVOKED_MS);
    expect(await hasRole(principal)).toBe(false);
    const grant = await stack.grantOf(id);
    // The schedule guard restores the reconcile sweep, which queues the revocation for its due time again.
    expect(grant.revokedAt!.getTime() - grant.expiresAt!.getTime()).toBeLessThan(15_000);
  });

  it('revokes after the process was killed with SIGKILL in the middle of the revocation and started again', async ({ expect }) => {
    const target = new URL(targetUrl);
    const proxy = await FreezableProxy.start({ host: target.hostname, port: Number(target.port) });
    cleanups.push(() => proxy.close());
    const proxied = new URL(targetUrl);
    proxied.port = String(proxy.port);
    const stack = await Stack.start({ targetUrl: proxied.toString() });
    const principal = principalOf('killed');
    const id = await stack.requestApproved('killed', GRANT);
    const session = await openSession(principal);
    const { expiresAt } = await stack.grantOf(id);

    // The target stops answering just before expiry, so the revocation hangs inside the provider.
    await sleepUntil(new Date(expiresAt!.getTime() - 3_000));
    proxy.freeze();
    const revocations = stack.queue('latch-revocations');
    await waitFor(async () => (await revocations.getActiveCount()) === 1, 10_000);
    const killed = await stack.processes[0]!.kill('SIGKILL');
    expect(killed.signal).toBe('SIGKILL');
    proxy.thaw();
    expect(await hasRole(principal)).toBe(true);
    expect(await stack.stateOf(id)).toBe('active');

    await stack.startProcess();
    // The dead worker's job is found once its lock expires and a stalled check sees it (about 35 s).
    await waitFor(async () => (await stack.stateOf(id)) === 'revoked', 120_000);
    expect(await hasRole(principal)).toBe(false);
    expect(await sessionAlive(session)).toBe(false);
  });

  it('revokes at once on start when Latch was stopped across the expiry', async ({ expect }) => {
    const stack = await Stack.start();
    const principal = principalOf('stopped');
    const id = await stack.requestApproved('stopped', GRANT);
    const { expiresAt } = await stack.grantOf(id);
    const stopped = await stack.processes[0]!.kill('SIGTERM');
    expect(stopped.code).toBe(0);

    await sleepUntil(new Date(expiresAt!.getTime() + 3_000));
    // Nobody was there to take it away.
    expect(await hasRole(principal)).toBe(true);
    const restartedAt = Date.now();
    await stack.startProcess();
    await waitFor(async () => (await stack.stateOf(id)) === 'revoked', 30_000);
    expect(await hasRole(principal)).toBe(false);
    const grant = await stack.grantOf(id);
    expect(grant.revokedAt!.getTime()).toBeGreaterThanOrEqual(restartedAt);
    const revoked = await stack.db.auditEvent.findFirstOrThrow({ where: { requestId: id, action: 'grant.revoked' } });
    expect((revoked.data as { lateBySeconds: number }).lateBySeconds).toBeGreaterThanOrEqual(3);
  });

  it('revokes at expiry the role of a resource a policy reload removed, through the provider settings recorded with the grant', async ({ expect }) => {
    const stack = await Stack.start();
    const principal = principalOf('removed');
    const id = await stack.requestApproved('removed', GRANT);
    expect(await hasRole(principal)).toBe(true);
    expect((await stack.grantOf(id)).providerSettings).toMatchObject({ type: 'postgres', settings: { connectionStringEnv: 'TARGET_DB_URL' } });

    // The resource leaves the policy while its access is live; the running process reloads.
    writeFileSync(
      stack.policyFile,
      `resources:
  - id: other
    name: Other
    provider: { type: slack-usergroup, settings: { usergroup: S0OTHER } }
    roles: [member]
    maxDuration: 1h
    approvers: { users: [${APPROVER}] }
    approvalChannel: C0E2EAPPROVALS
`,
    );
    await stack.processes[0]!.waitForLog((line) => typeof line.msg === 'string' && line.msg.startsWith('policy reloaded'), 30_000);
    // Reloaded while the access is live, so its revocation is the one under the new policy.
    expect(await stack.stateOf(id)).toBe('active');

    await waitFor(async () => (await stack.stateOf(id)) === 'revoked', UNTIL_REVOKED_MS);
    expect(await hasRole(principal)).toBe(false);
    expect((await stack.auditActions(id)).filter((action) => action.startsWith('grant.revo'))).toEqual(['grant.revoked']);
  });

  it('keeps the role while an overlapping grant still covers it, and revokes it when the last one ends', async ({ expect }) => {
    const stack = await Stack.start();
    const principal = principalOf('overlap');
    const first = await stack.requestApproved('overlap', GRANT);
    const second = await stack.requestApproved('overlap', `${2 * GRANT_SECONDS}s`);
    const session = await openSession(principal);

    await waitFor(async () => (await stack.stateOf(first)) === 'revoked', UNTIL_REVOKED_MS);
    expect(await hasRole(principal)).toBe(true);
    expect(await sessionAlive(session)).toBe(true);
    const revokedFirst = await stack.db.auditEvent.findFirstOrThrow({ where: { requestId: first, action: 'grant.revoked' } });
    expect(revokedFirst.data).toMatchObject({ providerCalled: false, coveredBy: [(await stack.grantOf(second)).id] });

    await waitFor(async () => (await stack.stateOf(second)) === 'revoked', UNTIL_REVOKED_MS);
    expect(await hasRole(principal)).toBe(false);
    expect(await sessionAlive(session)).toBe(false);
  });
});
