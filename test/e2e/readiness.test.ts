import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkReadiness } from '../../src/runtime/readiness.ts';
import { createDatabase } from '../../src/store/database.ts';
import { FakeSlack } from '../../tools/sandbox/fake-slack.ts';
import { FreezableProxy } from '../helpers/freezable-proxy.ts';
import { freePort } from '../helpers/free-port.ts';
import { LatchProcess } from '../helpers/latch-process.ts';
import { PrivateRedis } from '../helpers/private-redis.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.ts';

/**
 * `GET /readyz` of a real `latch start` follows its dependencies: unready, quickly and saying
 * which one and why, while Redis is down or PostgreSQL does not answer or lacks a migration, and
 * ready again once they are back, without a restart. `/healthz` (alive) stays 200 all along.
 */
const BOT_TOKEN = 'xoxb-6666-7777-readinessBotToken';
/** A probe must answer well within a load balancer's timeout, whatever the dependency does. */
const PROBE_ANSWERS_WITHIN_MS = 3_000;

let slack: FakeSlack;
let database: TestDatabase;
let redis: PrivateRedis;
let postgresProxy: FreezableProxy;
let latch: LatchProcess;
let baseUrl: string;

beforeAll(async () => {
  [slack, database, redis] = await Promise.all([FakeSlack.start({ botToken: BOT_TOKEN }), createTestDatabase(), PrivateRedis.start()]);
  const target = new URL(database.url);
  postgresProxy = await FreezableProxy.start({ host: target.hostname, port: Number(target.port) });
  const proxied = new URL(database.url);
  proxied.port = String(postgresProxy.port);
  const policyFile = join(mkdtempSync(join(tmpdir(), 'latch-readiness-')), 'policy.yaml');
  writeFileSync(
    policyFile,
    `
resources:
  - id: prod-db
    name: Production database
    provider: { type: postgres, settings: { connectionStringEnv: TARGET_DB_URL } }
    identity: { domains: [example.com] }
    roles: [read]
    maxDuration: 4h
    approvers: { users: [U0APPROVER1] }
    approvalChannel: C0APPROVALS
`,
  );
  const port = await freePort();
  latch = new LatchProcess(['start'], {
    DATABASE_URL: proxied.toString(),
    REDIS_URL: redis.url,
    SLACK_BOT_TOKEN: BOT_TOKEN,
    SLACK_SIGNING_SECRET: 'readiness-signing-secret-0123456789',
    SLACK_API_URL: slack.apiUrl,
    LATCH_POLICY_FILE: policyFile,
    TARGET_DB_URL: database.url,
    PORT: String(port),
    LOG_LEVEL: 'info',
  });
  baseUrl = `http://127.0.0.1:${port}`;
  await latch.waitForLog((line) => String(line.msg).startsWith('latch is listening'), 60_000);
});

afterAll(async () => {
  await latch?.kill('SIGKILL');
  await postgresProxy?.close();
  await redis?.stop();
  await database?.drop();
  await slack?.close();
});

interface Probe {
  status: number;
  body: { ready: boolean; checks: Record<string, string> };
  tookMs: number;
}

async function readyz(): Promise<Probe> {
  const startedAt = Date.now();
  const response = await fetch(`${baseUrl}/readyz`);
  const body = (await response.json()) as Probe['body'];
  return { status: response.status, body, tookMs: Date.now() - startedAt };
}

/** Polls /readyz until `until` accepts an answer; every answer must come quickly, and /healthz stay 200. */
async function pollReadyz(until: (probe: Probe) => boolean, timeoutMs = 60_000): Promise<Probe> {
  const deadline = Date.now() + timeoutMs;
  let last: Probe | undefined;
  while (Date.now() < deadline) {
    last = await readyz();
    expect(last.tookMs, `GET /readyz took ${last.tookMs} ms`).toBeLessThan(PROBE_ANSWERS_WITHIN_MS);
    expect((await fetch(`${baseUrl}/healthz`)).status).toBe(200);
    if (until(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`/readyz never gave the expected answer within ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
}

describe('GET /readyz of latch start', { timeout: 240_000 }, () => {
  it('turns unready when Redis stops, naming it and why, and ready again when Redis returns', async () => {
    expect((await pollReadyz((probe) => probe.status === 200)).body).toEqual({ ready: true, checks: { postgres: 'ok', redis: 'ok', policy: 'ok' } });

    const port = redis.port;
    await redis.stop();
    const down = await pollReadyz((probe) => probe.status === 503);
    expect(down.body).toMatchObject({ ready: false, checks: { postgres: 'ok', redis: expect.stringMatching(/^unreachable: /), policy: 'ok' } });
    // Once a reconnect has failed, the reason is the connection's own error.
    const refused = await pollReadyz((probe) => /ECONNREFUSED/.test(probe.body.checks.redis ?? ''));
    expect(refused.body).toMatchObject({ ready: false, checks: { redis: expect.stringMatching(/^unreachable: connect ECONNREFUSED 127\.0\.0\.1:\d+$/) } });
    // Still unready, and still quick, a few probes later (reconnect attempts back off meanwhile).
    for (let i = 0; i < 3; i++) expect((await pollReadyz(() => true)).status).toBe(503);

    redis = await PrivateRedis.start(port);
    const back = await pollReadyz((probe) => probe.status === 200, 60_000);
    expect(back.body).toEqual({ ready: true, checks: { postgres: 'ok', redis: 'ok', policy: 'ok' } });
    expect(latch.logLines().some((line) => line.level === 'fatal')).toBe(false);
  });

  it('turns unready while PostgreSQL does not answer, and ready again when it does', async () => {
    postgresProxy.freeze();
    try {
      const frozen = await pollReadyz((probe) => probe.status === 503);
      expect(frozen.body.checks).toMatchObject({ postgres: 'no answer within 2000 ms', redis: 'ok' });
    } finally {
      postgresProxy.thaw();
    }
    await pollReadyz((probe) => probe.status === 200);
  });

  it('turns unready while a migration is missing from the database', async () => {
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    try {
      const { rows } = await admin.query<Record<string, unknown>>('SELECT * FROM _prisma_migrations ORDER BY migration_name DESC LIMIT 1');
      const latest = rows[0]!;
      await admin.query('DELETE FROM _prisma_migrations WHERE id = $1', [latest.id]);
      try {
        const behind = await pollReadyz((probe) => probe.status === 503);
        expect(behind.body.checks).toMatchObject({ postgres: '1 migration(s) not applied: run `latch migrate`', redis: 'ok' });
      } finally {
        const columns = Object.keys(latest);
        await admin.query(
          `INSERT INTO _prisma_migrations (${columns.join(', ')}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(', ')})`,
          columns.map((column) => latest[column]),
        );
      }
      await pollReadyz((probe) => probe.status === 200);
    } finally {
      await admin.end();
    }
  });

  it('counts a process without a policy as unready (the check /readyz runs)', async () => {
    // A running Latch always holds a policy (an invalid reload keeps the one in force), so only
    // the check itself can be asked about a missing one.
    const db = createDatabase({ databaseUrl: database.url, poolSize: 1 });
    const client = redis.client();
    try {
      await client.ping();
      const readiness = await checkReadiness({ db, redis: client, policyVersion: () => undefined });
      expect(readiness).toEqual({ ready: false, checks: { postgres: 'ok', redis: 'ok', policy: 'not loaded' } });
    } finally {
      client.disconnect();
      await db.$disconnect();
    }
  });
});
