import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { JOB_QUEUES } from '../src/jobs/job-queue-specs.ts';
import { createLogger } from '../src/logging/logger.ts';
import { SLACK_EVENTS_PATH } from '../src/slack/app.ts';
import { migrateDatabase } from '../src/store/migrate.ts';
import { freePort } from '../test/helpers/free-port.ts';
import { LatchProcess } from '../test/helpers/latch-process.ts';
import { PrivateRedis } from '../test/helpers/private-redis.ts';
import { SlackSender } from '../test/helpers/slack-sender.ts';
import { BenchChild } from './child-processes.ts';
import { createBenchDatabase, type BenchDatabase } from './services.ts';

export const BENCH_SIGNING_SECRET = 'bench-signing-secret-0123456789abcdef';
export const BENCH_BOT_TOKEN = 'xoxb-0000-1111-benchBotToken';
export const BENCH_APPROVER = 'U0BENCHAPPROVER';
export const BENCH_APPROVAL_CHANNEL = 'C0BENCHAPPROVALS';
export const BENCH_RESOURCE = 'prod-db';
const WEBHOOK_SECRET = 'bench-webhook-secret-0123456789abcdef';

/** The requester of the i-th request: a few hundred people, as in a real workspace. */
export const requesterOf = (i: number) => `U0BENCH${String(i % 500).padStart(4, '0')}`;

/** The fake Slack Web API in its own process (bench/fake-slack-process.ts). */
export class FakeSlackChild {
  private constructor(
    private readonly child: BenchChild,
    readonly apiUrl: string,
    private readonly responseUrlBase: string,
  ) {}

  static async start(): Promise<FakeSlackChild> {
    const child = new BenchChild('./fake-slack-process.ts', { BENCH_BOT_TOKEN });
    const ready = await child.next<{ apiUrl: string; responseUrlBase: string }>('ready');
    return new FakeSlackChild(child, ready.apiUrl, ready.responseUrlBase);
  }

  /** The fake's process id (for its CPU time in /proc). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  responseUrl(id: string): string {
    return `${this.responseUrlBase}${encodeURIComponent(id)}`;
  }

  /** Calls received so far, by Web API method (`response_url` for posts to response URLs). */
  async counts(): Promise<Record<string, number>> {
    const reply = this.child.next<{ counts: Record<string, number> }>('counts');
    this.child.send({ type: 'counts' });
    return (await reply).counts;
  }

  /** When (epoch ms, as the fake saw it) the message with this ts was first updated. */
  updated(ts: string): Promise<number> {
    return new Promise((resolve) => {
      const listener = (message: { ts: string; at: number }) => {
        if (message.ts !== ts) return;
        this.waiting.delete(ts);
        resolve(message.at);
      };
      this.waiting.set(ts, listener);
      this.child.send({ type: 'watch-update', ts });
    });
  }

  private readonly waiting = new Map<string, (message: { ts: string; at: number }) => void>();
  private listening = false;

  /** Routes `updated` answers to their waiters (one IPC listener for all). */
  listen(): this {
    if (!this.listening) {
      this.listening = true;
      this.child.on<{ ts: string; at: number }>('updated', (message) => this.waiting.get(message.ts)?.(message));
    }
    return this;
  }

  stop(): Promise<void> {
    return this.child.stop();
  }
}

export interface LatchStack {
  database: BenchDatabase;
  redis: PrivateRedis;
  slack: FakeSlackChild;
  latch: LatchProcess;
  /**
   * With a `web` stack, the `latch worker` that posts the Slack notices its commands and clicks
   * queue (approval messages, DMs, updates). Unless asked to grant (`grants: 'run'`), the grants
   * queue is paused, so, as before the notices moved, no grant runs and none is measured.
   */
  worker: LatchProcess | null;
  /** Signed requests to Latch's Slack endpoint (a `web` stack). */
  sender: SlackSender;
  /** Environment the latch process got (for another process on the same stack). */
  env: Record<string, string>;
  stop(): Promise<void>;
}

export interface LatchStackOptions {
  adminDatabaseUrl: string;
  role: 'web' | 'worker';
  /** Where the webhook provider of the bench policy sends grants and revokes. */
  webhookUrl?: string;
  /** Whether a `web` stack's worker grants what is approved ('run'), or leaves it queued ('paused', the default). */
  grants?: 'run' | 'paused';
  /** Runs on the migrated database before Latch starts (rows a worker finds at start-up). */
  prepare?(databaseUrl: string): Promise<void>;
  /** Settings of Latch's own beyond the stack's (LATCH_MAX_SLACK_WORK). */
  env?: Record<string, string>;
  /** Environment for the `role` process alone (not a web stack's worker), given the stack's: the ack section's event-loop probe. */
  roleEnv?(env: Record<string, string>): Record<string, string>;
  say(line: string): void;
}

/**
 * A real `latch web` or `latch worker` process (bin/latch.js) with everything it needs of its
 * own: a migrated database, a private Redis (so nothing another run or test does shares its
 * queues), the fake Slack in its own process, and a policy with one resource whose provider is
 * a webhook. A `web` stack also runs a `latch worker`, which posts what the web process's
 * commands and clicks queue for Slack (see `worker`). Stopped and dropped by `stop()`.
 */
export async function startLatchStack({ adminDatabaseUrl, role, webhookUrl, grants = 'paused', prepare, env: extraEnv, roleEnv, say }: LatchStackOptions): Promise<LatchStack> {
  const cleanups: Array<() => Promise<unknown>> = [];
  const stop = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((error: unknown) => say(`cleanup: ${(error as Error).message}`));
    cleanups.length = 0;
  };
  try {
    const database = await createBenchDatabase(adminDatabaseUrl);
    cleanups.push(() => database.drop());
    await migrateDatabase({ databaseUrl: database.url, logger: createLogger({ level: 'silent' }) });
    await prepare?.(database.url);
    const redis = await PrivateRedis.start();
    cleanups.push(() => redis.stop());
    const slack = await FakeSlackChild.start();
    cleanups.push(() => slack.stop());
    const dir = mkdtempSync(join(process.env.TMPDIR ?? tmpdir(), 'latch-bench-policy-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const policyFile = join(dir, 'policy.yaml');
    writeFileSync(policyFile, benchPolicy(webhookUrl ?? 'http://127.0.0.1:9/never-called'));
    const port = await freePort();
    const env = {
      // Named in pg_stat_activity, so a benchmark can tell whose backends wait for what.
      DATABASE_URL: withApplicationName(database.url, `latch-${role}`),
      REDIS_URL: redis.url,
      SLACK_BOT_TOKEN: BENCH_BOT_TOKEN,
      SLACK_SIGNING_SECRET: BENCH_SIGNING_SECRET,
      SLACK_API_URL: slack.apiUrl,
      LATCH_POLICY_FILE: policyFile,
      BENCH_WEBHOOK_SECRET: WEBHOOK_SECRET,
      PORT: String(port),
      // What an operator runs with: a line for what each use case did, none for each ack.
      LOG_LEVEL: 'info',
      // Node flags for every latch process of the benchmark (BENCH_LATCH_NODE_OPTIONS: --max-semi-space-size=…),
      // and with BENCH_CPU_PROF_DIR a CPU profile of each (node --cpu-prof), written there when it exits.
      ...latchNodeOptions(),
      ...extraEnv,
    };
    const startLatch = async (processRole: 'web' | 'worker', processEnv: Record<string, string>) => {
      const latch = new LatchProcess([processRole], processEnv);
      // A profiled process must exit by itself to write its profile: asked to stop, it shuts down.
      cleanups.push(() => latch.kill(process.env.BENCH_CPU_PROF_DIR ? 'SIGTERM' : 'SIGKILL'));
      await latch.waitForLog((line) => typeof line.msg === 'string' && line.msg.startsWith('latch is listening'), 120_000);
      // Its log is read only to see it start: the rest would pile up in this process.
      latch.stdout = '';
      return latch;
    };
    const latch = await startLatch(role, { ...env, ...roleEnv?.(env) });
    let worker: LatchProcess | null = null;
    if (role === 'web') {
      if (grants === 'paused') await pauseGrants(redis);
      worker = await startLatch('worker', { ...env, DATABASE_URL: withApplicationName(database.url, 'latch-worker'), PORT: String(await freePort()) });
    }
    // A command's answer in its ack is read from the ack (cpu-per-operation.ts), not handed on to the fake Slack.
    const sender = new SlackSender(`http://127.0.0.1:${port}${SLACK_EVENTS_PATH}`, BENCH_SIGNING_SECRET, (id) => slack.responseUrl(id), null, { showAckAnswers: false });
    return { database, redis, slack, latch, worker, sender, env, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The grants queue of the stack (under Latch's default prefix) takes jobs but hands none out. */
async function pauseGrants(redis: PrivateRedis): Promise<void> {
  const connection = redis.client();
  const grants = new Queue(JOB_QUEUES.grants.name, { connection, prefix: 'latch' });
  try {
    await grants.pause();
  } finally {
    await grants.close();
    connection.disconnect();
  }
}

function benchPolicy(webhookUrl: string): string {
  return `
# Thousands of requests from 500 people wait at once: above the default of 10 pending each.
limits: { pendingPerPerson: 1000 }
resources:
  - id: ${BENCH_RESOURCE}
    name: Production database
    provider: { type: webhook, settings: { url: ${JSON.stringify(webhookUrl)}, secretEnv: BENCH_WEBHOOK_SECRET } }
    identity: { from: slack-user-id }
    roles: [read]
    maxDuration: 8h
    approvers: { users: [${BENCH_APPROVER}] }
    approvalChannel: ${BENCH_APPROVAL_CHANNEL}
`;
}

/**
 * Makes `wanted` pending requests (each announced: its approval message posted) through
 * `/request-access` with arguments, `batch` at a time, each batch waiting until Latch has
 * announced it. Latch acks before it stores a request, so sending faster than it stores would
 * only pile work up inside it (and, past its database pool's wait, lose requests).
 */
export async function makePendingRequests(stack: LatchStack, probe: { query<R>(sql: string): Promise<{ rows: R[] }> }, wanted: number, say: (line: string) => void, batch = 25): Promise<number> {
  const count = async () => Number((await probe.query<{ n: string }>(`SELECT count(*) AS n FROM access_requests WHERE state = 'pending' AND approval_message_ts IS NOT NULL`)).rows[0]!.n);
  let have = await count();
  let sent = 0;
  let lastReport = Date.now();
  while (have < wanted) {
    const size = Math.min(batch, wanted - have);
    await Promise.all(
      Array.from({ length: size }, async (_, j) => {
        const i = sent + j;
        const response = await stack.sender.command(requesterOf(i), `${BENCH_RESOURCE} read 2h pending request #${i}`);
        await response.arrayBuffer();
      }),
    );
    sent += size;
    const target = have + size;
    const deadline = Date.now() + 60_000;
    while ((have = await count()) < target && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    if (Date.now() >= deadline) say(`  WARNING: Latch announced ${have} of the ${target} requests sent so far within a minute`);
    if (Date.now() - lastReport >= 10_000) {
      lastReport = Date.now();
      say(`  … ${have.toLocaleString('en-US')} of ${wanted.toLocaleString('en-US')} pending requests made`);
    }
  }
  return have;
}

/** A database URL whose connections carry `name` as their application_name. */
export function withApplicationName(databaseUrl: string, name: string): string {
  const url = new URL(databaseUrl);
  url.searchParams.set('application_name', name);
  return url.toString();
}

/** NODE_OPTIONS for the benchmark's latch processes: BENCH_LATCH_NODE_OPTIONS, plus a CPU profile when BENCH_CPU_PROF_DIR is set. */
function latchNodeOptions(): { NODE_OPTIONS?: string } {
  const profile = process.env.BENCH_CPU_PROF_DIR ? `--cpu-prof --cpu-prof-dir=${process.env.BENCH_CPU_PROF_DIR}` : '';
  const options = [process.env.BENCH_LATCH_NODE_OPTIONS ?? '', profile].filter(Boolean).join(' ');
  return options ? { NODE_OPTIONS: options } : {};
}
