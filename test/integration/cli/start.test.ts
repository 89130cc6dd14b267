import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { MIGRATIONS_FOLDER } from '../../../src/store/migrate.ts';
import { FakeSlack } from '../../../tools/sandbox/fake-slack.ts';
import { freePort } from '../../helpers/free-port.ts';
import { LatchProcess, runLatch, type LatchProcessOptions } from '../../helpers/latch-process.ts';
import { SlackSender } from '../../helpers/slack-sender.ts';
import { postSignedToSlackApp } from '../../../tools/sandbox/slack-signing.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/test-database.ts';
import { PROD_DB_POLICY_YAML } from '../../helpers/test-policy.ts';

const SIGNING_SECRET = 'b7f0a9c2d4e6f8a1b3c5d7e9f0a2b4c6';
const BOT_TOKEN = 'xoxb-2222-3333-startTestBotToken';
const DB_PASSWORD = 'not-checked-but-never-logged';


let slack: FakeSlack;
let db: TestDatabase;
let emptyDb: TestDatabase;
let policyFile: string;
const running: LatchProcess[] = [];

beforeAll(async () => {
  slack = await FakeSlack.start({ botToken: BOT_TOKEN });
  [db, emptyDb] = await Promise.all([createTestDatabase(), createTestDatabase({ migrated: false })]);
  policyFile = join(mkdtempSync(join(tmpdir(), 'latch-start-')), 'policy.yaml');
  writeFileSync(policyFile, PROD_DB_POLICY_YAML);
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((latch) => latch.kill()));
  slack.reset();
});
afterAll(async () => {
  await slack.close();
  await Promise.all([db.drop(), emptyDb.drop()]);
});

/** The test PostgreSQL trusts loopback, so a password in the URL is accepted and ignored. */
function withPassword(url: string): string {
  const parsed = new URL(url);
  parsed.password = DB_PASSWORD;
  return parsed.toString();
}

async function environment(overrides: Record<string, string | undefined> = {}) {
  return {
    DATABASE_URL: withPassword(db.url),
    REDIS_URL: inject('redisUrl'),
    SLACK_BOT_TOKEN: BOT_TOKEN,
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_API_URL: slack.apiUrl,
    LATCH_POLICY_FILE: policyFile,
    TARGET_DB_URL: db.url,
    PORT: String(await freePort()),
    LOG_LEVEL: 'debug',
    ...overrides,
  };
}

async function startLatch(overrides: Record<string, string | undefined> = {}, command = 'start', options: LatchProcessOptions = {}) {
  const env = await environment(overrides);
  const latch = new LatchProcess([command], env, options);
  running.push(latch);
  // Generous: other test files may be starting Latch processes on the same two cores.
  await latch.waitForLog((line) => typeof line.msg === 'string' && line.msg.startsWith('latch is listening'), 60_000);
  return { latch, baseUrl: `http://127.0.0.1:${env.PORT}` };
}

describe('latch start', { timeout: 90_000 }, () => {
  it('checks the bot token with Slack, then serves signed Slack requests and /healthz', async () => {
    const { latch, baseUrl } = await startLatch();
    // Bolt's check of the token, then Latch's own to learn its workspace (and bots.info its app).
    expect(slack.callsTo('auth.test')).toEqual([expect.objectContaining({ token: BOT_TOKEN }), expect.objectContaining({ token: BOT_TOKEN })]);
    expect(slack.callsTo('bots.info')).toEqual([expect.objectContaining({ token: BOT_TOKEN, args: expect.objectContaining({ bot: slack.botId }) })]);

    expect((await fetch(`${baseUrl}/healthz`)).status).toBe(200);

    const body = JSON.stringify({ type: 'url_verification', token: 'legacy', challenge: 'challenge-abc' });
    const signed = await postSignedToSlackApp(`${baseUrl}/slack/events`, body, { signingSecret: SIGNING_SECRET });
    expect(signed.status).toBe(200);
    expect(await signed.json()).toEqual({ challenge: 'challenge-abc' });
    expect(latch.stderr).toBe('');
  });

  it('refuses a forged signature and a stale timestamp', async () => {
    const { baseUrl } = await startLatch();
    const body = JSON.stringify({ type: 'url_verification', challenge: 'x' });
    const forged = await postSignedToSlackApp(`${baseUrl}/slack/events`, body, { signingSecret: 'not-the-secret' });
    expect(forged.status).toBe(401);
    const stale = await postSignedToSlackApp(`${baseUrl}/slack/events`, body, {
      signingSecret: SIGNING_SECRET,
      timestamp: Math.floor(Date.now() / 1000) - 6 * 60,
    });
    expect(stale.status).toBe(401);
    const unsigned = await fetch(`${baseUrl}/slack/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(unsigned.status).toBe(401);
  });

  it('logs JSON lines with a request id, and never a secret, even at debug level', async () => {
    const { latch, baseUrl } = await startLatch();
    const body = JSON.stringify({ type: 'url_verification', challenge: 'y' });
    const response = await postSignedToSlackApp(`${baseUrl}/slack/events`, body, { signingSecret: SIGNING_SECRET });
    const requestId = response.headers.get('x-request-id');
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    const line = await latch.waitForLog((l) => l.msg === 'http request' && l.path === '/slack/events');
    expect(line).toMatchObject({ requestId, status: 200, method: 'POST' });
    await latch.kill();
    const output = latch.stdout + latch.stderr;
    for (const secret of [BOT_TOKEN, SIGNING_SECRET, DB_PASSWORD]) expect(output).not.toContain(secret);
    expect(latch.logLines().length).toBeGreaterThan(2);
  });

  it('waits out a rate-limited auth.test (HTTP 429, Retry-After) and starts', async () => {
    slack.rateLimitOnce('auth.test', 1);
    await startLatch();
    const calls = slack.callsTo('auth.test');
    // The limited call, its retry a second later, then Latch's own (see above).
    expect(calls).toHaveLength(3);
    expect(calls[1]!.at.getTime() - calls[0]!.at.getTime()).toBeGreaterThanOrEqual(900);
  });

  it('answers /request-access with the request modal, through the real process', async () => {
    const { baseUrl } = await startLatch();
    const body = new URLSearchParams({
      command: '/request-access',
      text: '',
      user_id: 'U0REQUESTER',
      team_id: 'T0FAKE',
      api_app_id: 'A0LATCH',
      channel_id: 'C0GENERAL',
      trigger_id: '1.2.3',
      response_url: slack.responseUrl('smoke'),
    }).toString();
    const response = await postSignedToSlackApp(`${baseUrl}/slack/events`, body, { signingSecret: SIGNING_SECRET });
    expect(response.status).toBe(200);
    const open = await slack.waitForCall('views.open');
    expect(JSON.stringify(open.args.view)).toContain('Production database');
  });

  it('asks for a minute at least; only the test entry (test/helpers/latch-for-tests.ts) takes a seconds-long duration', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'latch-minimum-')), 'policy.yaml');
    writeFileSync(file, PROD_DB_POLICY_YAML.replace('    identity: { domains: [example.com] }', '    identity: { from: map-only, map: { U0REQUESTER: alice } }'));
    const ask = async (baseUrl: string, text: string) => {
      const id = `minimum-${Math.random()}`;
      await new SlackSender(`${baseUrl}/slack/events`, SIGNING_SECRET, (responseId) => slack.responseUrl(responseId)).command('U0REQUESTER', text, id);
      return String((await slack.waitForCall('response_url', (c) => c.args.id === id)).args.text);
    };

    // `latch web`, the role that takes requests, started the two ways.
    const production = await startLatch({ LATCH_POLICY_FILE: file }, 'web');
    expect(await ask(production.baseUrl, 'prod-db read 30s a quick look')).toContain('A duration must be at least one minute.');
    await production.latch.kill();

    const forTests = await startLatch({ LATCH_POLICY_FILE: file }, 'web', { shortGrants: true });
    expect(await ask(forTests.baseUrl, 'prod-db read 30s a quick look')).toBe('Request sent: you will get a message when it is decided.');
    expect(forTests.latch.stderr).toBe('');
  });

  it('reports itself ready on /readyz, naming each dependency', async () => {
    const { baseUrl } = await startLatch();
    const response = await fetch(`${baseUrl}/readyz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ready: true, checks: { postgres: 'ok', redis: 'ok', policy: 'ok' } });
  });

  it('reports itself not ready (503) when its database goes away, and stays alive', async () => {
    const own = await createTestDatabase();
    const { baseUrl } = await startLatch({ DATABASE_URL: own.url });
    await own.drop();
    const response = await fetch(`${baseUrl}/readyz`);
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ ready: false, checks: { postgres: expect.stringMatching(/^unreachable: .*does not exist/), redis: 'ok' } });
    expect((await fetch(`${baseUrl}/healthz`)).status).toBe(200);
  });

  it('as `latch worker`, answers the probes but not Slack', async () => {
    const { baseUrl } = await startLatch({}, 'worker');
    expect((await fetch(`${baseUrl}/readyz`)).status).toBe(200);
    const body = JSON.stringify({ type: 'url_verification', challenge: 'z' });
    const response = await postSignedToSlackApp(`${baseUrl}/slack/events`, body, { signingSecret: SIGNING_SECRET });
    expect(response.status).toBe(404);
  });

  it('as `latch web`, serves Slack', async () => {
    const { baseUrl } = await startLatch({}, 'web');
    const body = JSON.stringify({ type: 'url_verification', challenge: 'w' });
    const response = await postSignedToSlackApp(`${baseUrl}/slack/events`, body, { signingSecret: SIGNING_SECRET });
    expect(await response.json()).toEqual({ challenge: 'w' });
  });

  it('reloads the policy when its file changes or on SIGHUP, and refuses an invalid one while it keeps working', async () => {
    const reloadPolicy = (extra = '') => `
resources:
  - id: prod-db
    name: Production database
    provider: { type: postgres, settings: { connectionStringEnv: TARGET_DB_URL } }
    identity: { from: map-only, map: { U0REQUESTER: alice } }
    roles: [read]
    maxDuration: 4h
    approvers: { users: [U0APPROVER1] }
    approvalChannel: C0APPROVALS
${extra}`;
    const file = join(mkdtempSync(join(tmpdir(), 'latch-reload-')), 'policy.yaml');
    writeFileSync(file, reloadPolicy());
    const { latch, baseUrl } = await startLatch({ LATCH_POLICY_FILE: file });
    const sender = new SlackSender(`${baseUrl}/slack/events`, SIGNING_SECRET, (id) => slack.responseUrl(id));
    const ask = async (text: string) => {
      const id = `reload-${Math.random()}`;
      await sender.command('U0REQUESTER', text, id);
      return String((await slack.waitForCall('response_url', (c) => c.args.id === id)).args.text);
    };
    const loaded = latch.logLines().find((line) => String(line.msg).startsWith('policy loaded'))!;

    // Saved half-way: refused, and the policy in force stays.
    writeFileSync(file, reloadPolicy().replace('maxDuration: 4h', 'maxDuration: forever'));
    const refused = await latch.waitForLog((line) => String(line.msg).startsWith('policy reload refused'));
    expect(refused).toMatchObject({ level: 'error', trigger: 'file change', policyVersion: loaded.policyVersion });
    expect(refused.problems).toEqual([expect.stringContaining('resources[0].maxDuration: "forever" is not a duration')]);
    latch.kill('SIGHUP').catch(() => undefined);
    await latch.waitForLog((line) => String(line.msg).startsWith('policy reload refused') && line.trigger === 'SIGHUP');
    expect((await fetch(`${baseUrl}/readyz`)).status).toBe(200);
    expect(await ask('prod-db read 1h the old policy still serves')).toBe('Request sent: you will get a message when it is decided.');
    expect(await ask('billing admin 1h not yet')).toContain('There is no resource called "billing"');

    // A valid file with a new resource: in force at once, without a restart.
    writeFileSync(
      file,
      reloadPolicy(`  - id: billing
    name: Billing admin
    provider: { type: postgres, settings: { connectionStringEnv: TARGET_DB_URL } }
    identity: { from: map-only, map: { U0REQUESTER: alice } }
    roles: [admin]
    maxDuration: 1h
    approvers: { users: [U0APPROVER1] }
    approvalChannel: C0APPROVALS
`),
    );
    const reloaded = await latch.waitForLog((line) => String(line.msg).startsWith('policy reloaded'));
    expect(reloaded).toMatchObject({ trigger: 'file change', previousVersion: loaded.policyVersion, resources: 2 });
    expect(await ask('billing admin 1h after the reload')).toBe('Request sent: you will get a message when it is decided.');
    expect(latch.stderr).toBe('');
  });

  it('serves Prometheus metrics on /metrics: requests by state from PostgreSQL, decisions, queues', async () => {
    const own = await createTestDatabase();
    const file = join(mkdtempSync(join(tmpdir(), 'latch-metrics-')), 'policy.yaml');
    writeFileSync(file, PROD_DB_POLICY_YAML.replace('    identity: { domains: [example.com] }', '    identity: { from: map-only, map: { U0REQUESTER: alice } }'));
    try {
      const { baseUrl } = await startLatch({ DATABASE_URL: own.url, LATCH_POLICY_FILE: file });
      const sender = new SlackSender(`${baseUrl}/slack/events`, SIGNING_SECRET, (id) => slack.responseUrl(id));
      await sender.command('U0REQUESTER', 'prod-db read 1h watching the metrics', 'metrics-ask');
      expect((await slack.waitForCall('response_url', (c) => c.args.id === 'metrics-ask')).args.text).toBe('Request sent: you will get a message when it is decided.');
      const posted = await slack.waitForCall('chat.postMessage', (c) => c.args.channel === 'C0APPROVALS');
      const approve = findElement(posted.args.blocks, (element) => element.action_id === 'latch_approve');
      expect((await sender.click('U0APPROVER1', 'latch_approve', String(approve?.value))).status).toBe(200);

      const sampleOf = (text: string, series: string) => Number(text.split('\n').find((line) => line.startsWith(`${series} `))?.split(' ')[1]);
      const scrape = async () => {
        const response = await fetch(`${baseUrl}/metrics`);
        expect(response.status).toBe(200);
        expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
        return response.text();
      };
      // Approved, then granted or failed by the grant job (the role does not exist on the target).
      await expect
        .poll(async () => {
          const text = await scrape();
          return ['pending', 'approved', 'active', 'failed'].map((state) => sampleOf(text, `latch_requests{state="${state}"}`));
        }, { timeout: 20_000 })
        .toSatisfy((counts: number[]) => counts[0] === 0 && counts.slice(1).reduce((a, b) => a + b, 0) === 1);
      const text = await scrape();
      expect(sampleOf(text, 'latch_decisions_total{outcome="approved"}')).toBe(1);
      expect(sampleOf(text, 'latch_time_to_decision_seconds_count{outcome="approved"}')).toBeGreaterThanOrEqual(1);
      expect(text).toContain('latch_queue_jobs{queue="latch-grants",state="waiting"}');
      expect(text).toMatch(/^latch_grants_active \d+$/m);
      expect(text).toMatch(/^latch_revocations_overdue 0$/m);
      expect(text).toMatch(/^latch_process_resident_memory_bytes \d+/m);
      expect(text).not.toContain(BOT_TOKEN);
      expect(text).not.toContain('U0REQUESTER');
    } finally {
      await Promise.all(running.splice(0).map((latch) => latch.kill()));
      await own.drop();
    }
  });

  it('stops cleanly on SIGTERM', async () => {
    const { latch } = await startLatch();
    const exit = await latch.kill('SIGTERM');
    expect(exit.code).toBe(0);
    expect(latch.logLines().some((line) => String(line.msg).startsWith('shutting down'))).toBe(true);
    expect(latch.logLines().at(-1)).toMatchObject({ msg: 'shutdown complete', complete: true });
  });
});

/** The first Block Kit element, at any depth, that `match` accepts. */
function findElement(blocks: unknown, match: (element: Record<string, unknown>) => boolean): Record<string, unknown> | undefined {
  if (Array.isArray(blocks)) {
    for (const item of blocks) {
      const found = findElement(item, match);
      if (found) return found;
    }
  } else if (blocks && typeof blocks === 'object') {
    const element = blocks as Record<string, unknown>;
    if (match(element)) return element;
    for (const value of Object.values(element)) {
      const found = findElement(value, match);
      if (found) return found;
    }
  }
  return undefined;
}

describe('latch start refuses to run, in one line, when', () => {
  async function failure(overrides: Record<string, string | undefined>) {
    const result = await runLatch(['start'], await environment(overrides));
    expect(result.code).not.toBe(0);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
    return { code: result.code, line: lines[0]! };
  }

  it('DATABASE_URL is missing', async () => {
    expect(await failure({ DATABASE_URL: undefined })).toEqual({
      code: 78,
      line: 'latch: DATABASE_URL is missing: set it to the PostgreSQL connection string, e.g. postgresql://latch@localhost:5432/latch',
    });
  });

  it('plain `latch` (start is the default) has no DATABASE_URL', async () => {
    const result = await runLatch([], { ...(await environment()), DATABASE_URL: undefined });
    expect(result.code).toBe(78);
    expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^latch: DATABASE_URL is missing/)]);
  });

  it('the database has not been migrated', async () => {
    const { line } = await failure({ DATABASE_URL: emptyDb.url });
    const migrations = readdirSync(MIGRATIONS_FOLDER).filter((name) => /^\d{14}_/.test(name)).sort();
    expect(line).toBe(`latch: the database at DATABASE_URL is missing ${migrations.length} migration(s) (${migrations.join(', ')}): run \`latch migrate\` first`);
  });

  it('PostgreSQL cannot be reached', async () => {
    const { line } = await failure({ DATABASE_URL: `postgresql://latch:${DB_PASSWORD}@127.0.0.1:${await freePort()}/latch` });
    expect(line).toMatch(/^latch: cannot reach PostgreSQL at DATABASE_URL: /);
    expect(line).not.toContain(DB_PASSWORD);
  });

  it('Redis cannot be reached', async () => {
    const { line } = await failure({ REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
    expect(line).toMatch(/^latch: cannot reach Redis at REDIS_URL: /);
  });

  it('LATCH_REVOKE_CONCURRENCY is beyond what a worker may open connections for', async () => {
    const { code, line } = await failure({ LATCH_REVOKE_CONCURRENCY: '500' });
    expect(code).toBe(78);
    expect(line).toMatch(/^latch: LATCH_REVOKE_CONCURRENCY .*must be a whole number between 1 and 100/);
  });

  it('an OTEL_* variable asks for traces Latch cannot send, naming it', async () => {
    expect(await failure({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toEqual({
      code: 78,
      line: 'latch: OTEL_EXPORTER_OTLP_PROTOCOL must be http/protobuf or http/json: Latch sends traces over OTLP/HTTP (gRPC is not included, to keep the image small)',
    });
  });

  it('Slack refuses the bot token', async () => {
    slack.failOnce('auth.test', 'invalid_auth');
    expect(await failure({})).toEqual({ code: 78, line: 'latch: SLACK_BOT_TOKEN was refused by Slack (auth.test: invalid_auth)' });
  });

  it('the policy file has mistakes, naming each bad field by its path', async () => {
    const broken = join(mkdtempSync(join(tmpdir(), 'latch-start-')), 'policy.yaml');
    writeFileSync(broken, PROD_DB_POLICY_YAML.replace('maxDuration: 4h', 'maxDuration: soon').replace('C0APPROVALS', '#approvals'));
    const result = await runLatch(['start'], await environment({ LATCH_POLICY_FILE: broken }));
    expect(result.code).toBe(78);
    const lines = result.stderr.trim().split('\n');
    expect(lines[0]).toBe(`latch: the policy file ${broken} has 2 problem(s):`);
    expect(lines.slice(1)).toEqual([
      expect.stringMatching(/^latch: {3}resources\[0\]\.maxDuration: .*\(line \d+\)$/),
      expect.stringMatching(/^latch: {3}resources\[0\]\.approvalChannel: .*\(line \d+\)$/),
    ]);
  });

  it("a provider's secret is not in the environment, naming the policy field and the variable", async () => {
    const result = await runLatch(['start'], await environment({ TARGET_DB_URL: undefined }));
    expect(result.code).toBe(78);
    expect(result.stderr.trim().split('\n')).toEqual([
      `latch: the providers in the policy file ${policyFile} have 1 problem(s):`,
      expect.stringMatching(/^latch: {3}resources\[0\]\.provider\.settings\.connectionStringEnv: .*TARGET_DB_URL/),
    ]);
  });

  it('the port is taken', async () => {
    const { baseUrl } = await startLatch();
    const { line } = await failure({ PORT: new URL(baseUrl).port });
    expect(line).toMatch(/^latch: cannot listen on PORT \d+: EADDRINUSE$/);
  });
});
