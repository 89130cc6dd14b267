import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { JOB_QUEUES } from '../../src/jobs/job-queue-specs.ts';
import { JOB_REGISTRY } from '../../src/jobs/job-registry.ts';
import { SLACK_EVENTS_PATH } from '../../src/slack/app.ts';
import { createDatabase, type Database } from '../../src/store/database.ts';
import { FakeSlack } from '../../tools/sandbox/fake-slack.ts';
import { freePort } from '../helpers/free-port.ts';
import { LatchProcess, runLatch } from '../helpers/latch-process.ts';
import { RedisCluster } from '../helpers/redis-cluster.ts';
import { SlackSender } from '../helpers/slack-sender.ts';
import { adminQuery, createTestDatabase, withDatabaseName, type TestDatabase } from '../helpers/test-database.ts';

/**
 * `latch start` on a real Redis Cluster (three masters, a password), as an operator would run it:
 * REDIS_CLUSTER=true, REDIS_URL naming every node, a hash-tagged LATCH_QUEUE_PREFIX. A request
 * approved in Slack is granted on a real PostgreSQL target and revoked at its expiry, once each
 * (for seconds: the process starts through the test entry, LatchProcess's `shortGrants`);
 * the maintenance sweeps run; /readyz is ready; every key Latch wrote lives in one slot. A prefix
 * without a hash tag, or a cluster node given without REDIS_CLUSTER, is refused at start.
 */
const SIGNING_SECRET = 'cluster-signing-secret-0123456789ab';
const BOT_TOKEN = 'xoxb-2222-3333-clusterBotToken';
const REDIS_PASSWORD = 'cluster-redis-pass-never-logged';
const APPROVER = 'U0CLUSTERAPPROVER';
const REQUESTER = 'U0CLUSTERREQUESTER';
const suffix = randomBytes(4).toString('hex');
const targetName = `latch_e2e_cluster_${suffix}`;
const managedRole = `latch_e2e_cluster_reader_${suffix}`;
const principal = `latch_e2e_cluster_person_${suffix}`;
const prefix = `{latch-e2e-${suffix}}`;

let slack: FakeSlack;
let adminUrl: string;
let admin: pg.Client;
let database: TestDatabase;
let db: Database;
let cluster: RedisCluster;
let env: Record<string, string>;
const processes: LatchProcess[] = [];

beforeAll(async () => {
  slack = await FakeSlack.start({ botToken: BOT_TOKEN });
  adminUrl = inject('adminDatabaseUrl');
  await adminQuery(adminUrl, `CREATE DATABASE ${targetName}`);
  admin = new pg.Client({ connectionString: withDatabaseName(adminUrl, targetName) });
  await admin.connect();
  await admin.query(`CREATE ROLE ${managedRole} NOLOGIN`);
  await admin.query(`CREATE ROLE ${principal} LOGIN`);
  [database, cluster] = await Promise.all([createTestDatabase(), RedisCluster.start({ password: REDIS_PASSWORD })]);
  db = createDatabase({ databaseUrl: database.url, poolSize: 2 });
  const policyFile = join(mkdtempSync(join(tmpdir(), 'latch-cluster-')), 'policy.yaml');
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
        ${REQUESTER}: ${principal}
    roles: [read]
    maxDuration: 1h
    approvers: { users: [${APPROVER}] }
    approvalChannel: C0CLUSTER
`,
  );
  env = {
    DATABASE_URL: database.url,
    REDIS_URL: cluster.url,
    REDIS_CLUSTER: 'true',
    LATCH_QUEUE_PREFIX: prefix,
    SLACK_BOT_TOKEN: BOT_TOKEN,
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_API_URL: slack.apiUrl,
    LATCH_POLICY_FILE: policyFile,
    TARGET_DB_URL: withDatabaseName(adminUrl, targetName),
    LOG_LEVEL: 'debug',
  };
}, 60_000);

afterAll(async () => {
  await Promise.all(processes.map((latch) => latch.kill('SIGKILL')));
  await db?.$disconnect();
  await cluster?.stop();
  await database?.drop();
  await admin?.end();
  await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${targetName} WITH (FORCE)`);
  await adminQuery(adminUrl, `DROP ROLE IF EXISTS ${principal}`);
  await adminQuery(adminUrl, `DROP ROLE IF EXISTS ${managedRole}`);
  await slack?.close();
});

async function hasRole(): Promise<boolean> {
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

describe('latch start on a Redis Cluster', { timeout: 240_000 }, () => {
  it('refuses a queue prefix without a hash tag, in one line that says why and what to set', async () => {
    const result = await runLatch(['start'], { ...env, LATCH_QUEUE_PREFIX: 'latch', PORT: String(await freePort()) });
    expect(result.code).not.toBe(0);
    expect(result.stderr.trim().split('\n')).toEqual([
      `latch: LATCH_QUEUE_PREFIX is "latch", which has no {hash tag}: with REDIS_CLUSTER=true every key of a queue must hash to one slot, or BullMQ's scripts fail with CROSSSLOT; set LATCH_QUEUE_PREFIX={latch}`,
    ]);
  });

  it('refuses a cluster node named without REDIS_CLUSTER=true, saying what to set', async () => {
    const oneNode = cluster.url.split(',')[0]!;
    const result = await runLatch(['start'], { ...env, REDIS_URL: oneNode, REDIS_CLUSTER: undefined, LATCH_QUEUE_PREFIX: undefined, PORT: String(await freePort()) });
    expect(result.code).not.toBe(0);
    expect(result.stderr.trim().split('\n')).toEqual([
      'latch: REDIS_URL is a node of a Redis Cluster: set REDIS_CLUSTER=true and a LATCH_QUEUE_PREFIX with a hash tag, e.g. {latch}',
    ]);
    expect(result.stdout + result.stderr).not.toContain(REDIS_PASSWORD);
  });

  it('names why the cluster cannot be reached, never quoting the password', async () => {
    const wrongPassword = 'wrong-cluster-password-123';
    const result = await runLatch(['start'], { ...env, REDIS_URL: cluster.url.replaceAll(encodeURIComponent(REDIS_PASSWORD), wrongPassword), PORT: String(await freePort()) });
    expect(result.code).not.toBe(0);
    expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^latch: cannot reach Redis at REDIS_URL: .*WRONGPASS/)]);
    expect(result.stdout + result.stderr).not.toContain(wrongPassword);
  });

  it('grants and revokes once, runs the sweeps, is ready, and keeps every key in one slot', async () => {
    const port = await freePort();
    const latch = new LatchProcess(['start'], { ...env, PORT: String(port) }, { shortGrants: true });
    processes.push(latch);
    await latch.waitForLog((line) => typeof line.msg === 'string' && line.msg.startsWith('latch is listening'), 60_000);

    const readyz = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(readyz.status).toBe(200);
    expect(await readyz.json()).toMatchObject({ checks: { postgres: 'ok', redis: 'ok', policy: 'ok' } });

    const sender = new SlackSender(`http://127.0.0.1:${port}${SLACK_EVENTS_PATH}`, SIGNING_SECRET, (id) => slack.responseUrl(id));
    expect((await sender.command(REQUESTER, 'target-db read 10s on a redis cluster')).status).toBe(200);
    let requestId = '';
    await waitFor(async () => {
      const request = await db.accessRequest.findFirst({ where: { approvalMessageTs: { not: null } } });
      requestId = request?.id ?? '';
      return request !== null;
    }, 30_000);
    await sender.click(APPROVER, 'latch_approve', requestId, 'C0CLUSTER');
    await waitFor(async () => (await db.accessRequest.findUniqueOrThrow({ where: { id: requestId } })).state === 'active', 60_000);
    expect(await hasRole()).toBe(true);

    // Every key Latch wrote, on whichever node: all under the prefix, so all in its slot, on one node.
    const keys = await cluster.allKeys();
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.filter(({ key }) => !key.startsWith(`${prefix}:`))).toEqual([]);
    const queues = new Set(keys.map(({ key }) => key.slice(prefix.length + 1).split(':')[0]));
    for (const queue of [JOB_QUEUES.grants.name, JOB_QUEUES.revocations.name, JOB_QUEUES.maintenance.name]) expect(queues).toContain(queue);
    const slots = new Set(await Promise.all(keys.map(({ key }) => cluster.slotOf(key))));
    expect(slots).toEqual(new Set([await cluster.slotOf(prefix)]));
    expect(new Set(keys.map(({ port: node }) => node)).size).toBe(1);

    await waitFor(async () => (await db.accessRequest.findUniqueOrThrow({ where: { id: requestId } })).state === 'revoked', 120_000);
    expect(await hasRole()).toBe(false);
    const grant = await db.grant.findUniqueOrThrow({ where: { requestId } });
    expect([grant.grantAttempts, grant.revokeAttempts]).toEqual([1, 1]);
    const actions = await db.auditEvent.findMany({ where: { requestId, action: { in: ['grant.granted', 'grant.revoked'] } } });
    expect(actions.map((event) => event.action).sort()).toEqual(['grant.granted', 'grant.revoked']);

    // The maintenance sweeps run on their schedules on the cluster (expiry and re-announce every 30 s).
    const sweepsDone = () => cluster.sortedSetSize(`${prefix}:${JOB_QUEUES.maintenance.name}:completed`);
    await waitFor(async () => (await sweepsDone()) >= 2, 60_000);
    // The runner logs a failed attempt as "<job name> job failed" (the queue's name when the job is gone).
    const maintenance = [JOB_QUEUES.maintenance.name, ...JOB_REGISTRY.filter((job) => job.queue === JOB_QUEUES.maintenance).map((job) => job.name)];
    const maintenanceFailures = new Set(maintenance.map((name) => `${name} job failed`));
    expect(latch.logLines().filter((line) => maintenanceFailures.has(String(line.msg)))).toEqual([]);
    expect(await sweepsDone()).toBeGreaterThanOrEqual(2);

    await latch.kill('SIGTERM');
    expect(latch.stdout + latch.stderr).not.toContain(REDIS_PASSWORD);
    expect(latch.stderr).toBe('');
  });
});
