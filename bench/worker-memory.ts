import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import pg from 'pg';
import { createRedisConnection } from '../src/jobs/redis-connection.ts';
import { createLogger } from '../src/logging/logger.ts';
import { APPROVE } from '../src/slack/blocks/ids.ts';
import { freePort } from '../test/helpers/free-port.ts';
import { PrivateRedis } from '../test/helpers/private-redis.ts';
import { SlackSender } from '../test/helpers/slack-sender.ts';
import { latencyLine, problemsLogged, waitForCount } from './ack-latency.ts';
import { BenchChild, cpuSecondsOf, memoryOf } from './child-processes.ts';
import { BENCH_APPROVAL_CHANNEL, BENCH_APPROVER, BENCH_BOT_TOKEN, BENCH_RESOURCE, BENCH_SIGNING_SECRET, requesterOf, startLatchStack } from './latch-stack.ts';
import { runOpenLoop, statusOf, type OpenLoopResult } from './open-loop.ts';
import { percentiles, type Percentiles } from './revocation-lateness.ts';
import { startWebhookSink } from './webhook-sink.ts';

/**
 * Peak memory (VmHWM) of a real `latch web` process under the ack load: slash commands, then
 * Approve clicks, each open-loop at `rate` for `seconds` after `warmupS` (bench/ack-latency.ts's
 * load), beside the bare Bolt app (bench/bare-bolt-app.ts) under the same load in the same run.
 * The bare app runs as Latch does, as plain `node` with no loader (Node strips its types): under
 * tsx it would carry tsx's loader, memory Latch does not have. Each process's memory is read
 * once started and after the load, and its CPU per request answered beside it, so a memory
 * setting that costs CPU shows it.
 *
 * The clicks go to the requests the commands made, in turn (more clicks than requests click some
 * twice: the second is told the request is decided, as a person would be). Latch refuses what it
 * cannot take as busy, in the ack: those count as answered, as they do for the ack latency.
 */
export interface WebMemoryOptions {
  adminDatabaseUrl: string;
  rate: number;
  seconds: number;
  warmupS: number;
  say(line: string): void;
}

export interface WebProcessFigures {
  idleRssMiB: number;
  peakMiB: number;
  /** CPU milliseconds per request answered, commands and clicks. */
  cpuMs: { command: number; click: number };
}

export interface WebMemoryResult {
  latch: WebProcessFigures;
  bare: WebProcessFigures;
  /** Slash commands Latch refused as busy in the ack, of those it answered. */
  commandsRefused: number;
  requestsStored: number;
  problems: Record<string, number>;
}

const WEB_REASON = 'investigating slow queries reported by support';

export async function runWebMemory({ adminDatabaseUrl, rate, seconds, warmupS, say }: WebMemoryOptions): Promise<WebMemoryResult> {
  const stack = await startLatchStack({ adminDatabaseUrl, role: 'web', say });
  const barePort = await freePort();
  const bare = new BenchChild('./bare-bolt-app.ts', { PORT: String(barePort), SLACK_SIGNING_SECRET: BENCH_SIGNING_SECRET, SLACK_BOT_TOKEN: BENCH_BOT_TOKEN, SLACK_API_URL: stack.slack.apiUrl }, { plainNode: true });
  const probe = new pg.Client({ connectionString: stack.database.url, application_name: 'latch-bench-probe' });
  probe.on('error', () => undefined);
  try {
    await bare.next('ready');
    await probe.connect();
    const targets = {
      latch: { pid: stack.latch.pid, sender: stack.sender },
      bare: { pid: bare.pid, sender: new SlackSender(`http://127.0.0.1:${barePort}/slack/events`, BENCH_SIGNING_SECRET, (id) => stack.slack.responseUrl(id)) },
    };
    const idle = { latch: memoryOf(stack.latch.pid).rssMiB, bare: memoryOf(bare.pid).rssMiB };
    const cpuMs = { latch: { command: Number.NaN, click: Number.NaN }, bare: { command: Number.NaN, click: Number.NaN } };
    const load = async (target: 'latch' | 'bare', kind: 'command' | 'click', send: (sender: SlackSender, i: number) => Promise<Response>): Promise<OpenLoopResult> => {
      const { pid, sender } = targets[target];
      const cpuBefore = cpuSecondsOf(pid);
      const result = await runOpenLoop({ rate, warmupMs: warmupS * 1000, durationMs: seconds * 1000, send: (i) => statusOf(send(sender, i)) });
      // Warm-up included on both sides of the division: the process's CPU over every request sent.
      cpuMs[target][kind] = ((cpuSecondsOf(pid) - cpuBefore) * 1000) / result.total;
      say(`  ${kind === 'command' ? 'slash command' : 'Approve click'} → ${target === 'latch' ? 'latch web' : 'bare Bolt'}: ${latencyLine(result)}; ${cpuMs[target][kind].toFixed(2)} ms CPU a request; peak ${memoryOf(pid).hwmMiB.toFixed(0)} MiB so far`);
      return result;
    };

    let commandsRefused = 0;
    const command = async (sender: SlackSender, i: number) => {
      const response = await sender.command(requesterOf(i), `${BENCH_RESOURCE} read 2h ${WEB_REASON} #${i}`);
      if (sender === stack.sender && /Latch is busy/.test(await response.clone().text())) commandsRefused += 1;
      return response;
    };
    await load('bare', 'command', command);
    const commands = await load('latch', 'command', command);
    const expected = commands.total - commandsRefused;
    const announced = await waitForCount(probe, 'SELECT count(*) AS n FROM access_requests WHERE approval_message_ts IS NOT NULL', expected, 300_000, (n) =>
      say(`  … ${n.toLocaleString('en-US')} of ${expected.toLocaleString('en-US')} requests announced`),
    );
    const { rows } = await probe.query<{ id: string }>(`SELECT id FROM access_requests WHERE approval_message_ts IS NOT NULL ORDER BY created_at`);
    const ids = rows.map((row) => row.id);
    say(`  ${commandsRefused.toLocaleString('en-US')} of ${commands.total.toLocaleString('en-US')} slash commands refused as busy in the ack; ${announced.toLocaleString('en-US')} requests announced, to click Approve on`);
    if (ids.length > 0) {
      const click = (sender: SlackSender, i: number) => sender.click(BENCH_APPROVER, APPROVE, ids[i % ids.length]!, BENCH_APPROVAL_CHANNEL, 'latch_approval_actions:r1');
      await load('bare', 'click', click);
      await load('latch', 'click', click);
      // The clicks' work (decisions stored, messages updated) runs after their acks.
      await waitForCount(probe, `SELECT count(*) AS n FROM access_requests WHERE state = 'approved'`, ids.length, 120_000, undefined, 10_000);
    }
    const figures = (target: 'latch' | 'bare'): WebProcessFigures => ({ idleRssMiB: idle[target], peakMiB: memoryOf(targets[target].pid).hwmMiB, cpuMs: cpuMs[target] });
    return { latch: figures('latch'), bare: figures('bare'), commandsRefused, requestsStored: announced, problems: problemsLogged(stack.latch.stdout) };
  } finally {
    await probe.end().catch(() => undefined);
    await bare.stop();
    await stack.stop();
  }
}

/**
 * Peak memory (VmHWM) of a real `latch worker` process while it revokes `grants` grants due over
 * `windowS` seconds, through the policy's webhook provider (a receiver in this process that
 * answers 204 at once); beside it, a bare BullMQ Worker process (no-op processor, the same
 * concurrency) over as many delayed jobs due over the same window, and an idle bare Node process.
 *
 * The grants are written to PostgreSQL before the worker starts: its start-up reconcile queues
 * their revocations (they are due within its 5-minute horizon), as after a deploy.
 */
export interface WorkerMemoryOptions {
  adminDatabaseUrl: string;
  grants: number;
  windowS: number;
  leadS: number;
  say(line: string): void;
}

export interface WorkerMemoryResult {
  grants: number;
  revoked: number;
  latchWorker: { idleRssMiB: number; peakMiB: number; cpuCoreShare: number; lateness: Percentiles };
  bareWorker: { idleRssMiB: number; peakMiB: number };
  bareNode: { peakMiB: number };
  webhookCalls: number;
  problems: Record<string, number>;
}

/** Revoke jobs each worker runs at once: Latch's default (startJobs, src/runtime/wiring.ts). */
const CONCURRENCY = 10;

export async function runWorkerMemory({ adminDatabaseUrl, grants: count, windowS, leadS, say }: WorkerMemoryOptions): Promise<WorkerMemoryResult> {
  const webhook = await startWebhookSink();
  const webhookUrl = webhook.url;
  let windowStart = 0;
  const stack = await startLatchStack({
    adminDatabaseUrl,
    role: 'worker',
    webhookUrl,
    say,
    prepare: async (databaseUrl) => {
      windowStart = Date.now() + leadS * 1000;
      await insertActiveGrants(databaseUrl, count, windowStart, windowS * 1000);
    },
  });
  const probe = new pg.Client({ connectionString: stack.database.url, application_name: 'latch-bench-probe' });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    const idleRssMiB = memoryOf(stack.latch.pid).rssMiB;
    const startedIn = Math.round((Date.now() - (windowStart - leadS * 1000)) / 1000);
    if (Date.now() > windowStart) say(`  WARNING: latch worker took ${startedIn} s to start, longer than the ${leadS} s lead: raise BENCH_MEMORY_LEAD_S`);
    // Nothing is due before the window: only then does a count that stops moving mean a stall.
    await sleep(Math.max(0, windowStart - Date.now()));
    const cpuBefore = cpuSecondsOf(stack.latch.pid);
    const cpuFrom = Date.now();
    const revoked = await waitForCount(probe, 'SELECT count(*) AS n FROM grants WHERE revoked_at IS NOT NULL', count, leadS * 1000 + windowS * 1000 + 300_000, (n) =>
      say(`  … ${n.toLocaleString('en-US')} of ${count.toLocaleString('en-US')} grants revoked by latch worker`),
    );
    const cpuCoreShare = (cpuSecondsOf(stack.latch.pid) - cpuBefore) / ((Date.now() - cpuFrom) / 1000);
    const { rows } = await probe.query<{ late: number }>('SELECT (extract(epoch FROM revoked_at - expires_at) * 1000)::float8 AS late FROM grants WHERE revoked_at IS NOT NULL');
    const latchWorker = { idleRssMiB, peakMiB: memoryOf(stack.latch.pid).hwmMiB, cpuCoreShare, lateness: percentiles(rows.map((row) => row.late)) };
    say(`  latch worker: ${revoked.toLocaleString('en-US')} grants revoked through the webhook provider (${webhook.calls().toLocaleString('en-US')} webhook calls); peak ${latchWorker.peakMiB.toFixed(0)} MiB (${idleRssMiB.toFixed(0)} MiB once started)`);
    const problems = problemsLogged(stack.latch.stdout);
    await probe.end();
    await stack.stop();

    const bareWorker = await runBareWorker(count, windowS, leadS);
    say(`  bare BullMQ worker process: peak ${bareWorker.peakMiB.toFixed(0)} MiB (${bareWorker.idleRssMiB.toFixed(0)} MiB once started)`);
    const bareNode = await idleNodePeak();
    say(`  bare Node process (idle): peak ${bareNode.peakMiB.toFixed(0)} MiB`);
    return { grants: count, revoked, latchWorker, bareWorker, bareNode, webhookCalls: webhook.calls(), problems };
  } finally {
    await probe.end().catch(() => undefined);
    await stack.stop();
    await webhook.close();
  }
}

async function insertActiveGrants(databaseUrl: string, count: number, firstDue: number, windowMs: number): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const grantedAt = new Date(firstDue - 3600_000);
    await client.query(
      `INSERT INTO access_requests (id, requester_slack_id, resource_id, role, principal, duration_seconds, reason, state, decided_at, created_at, updated_at)
       SELECT gen_random_uuid(), 'U0BENCH' || lpad((g % 500)::text, 4, '0'), $3, 'read', 'U0BENCH' || lpad((g % 500)::text, 4, '0') || '_' || g, 3600, 'benchmark', 'active', $1, $1, $1
         FROM generate_series(1, $2) AS g`,
      [grantedAt, count, BENCH_RESOURCE],
    );
    await client.query(
      `INSERT INTO grants (id, request_id, provider, principal, resource_id, role, granted_at, expires_at, grant_attempts, updated_at)
       SELECT gen_random_uuid(), id, 'webhook', principal, resource_id, role, $1, $2::timestamptz + make_interval(secs => (row_number() OVER (ORDER BY id) - 1) * $3::float8 / 1000.0), 1, $1
         FROM access_requests`,
      [grantedAt, new Date(firstDue), windowMs / count],
    );
  } finally {
    await client.end();
  }
}

async function runBareWorker(count: number, windowS: number, leadS: number): Promise<{ idleRssMiB: number; peakMiB: number }> {
  const redis = await PrivateRedis.start();
  const logger = createLogger({ level: 'silent' });
  const connection = createRedisConnection(redis.url, 'queue', logger);
  const prefix = `bench-${randomBytes(4).toString('hex')}`;
  const queue = new Queue('bench-bare-worker', { connection, prefix });
  let child: BenchChild | undefined;
  try {
    const windowStart = Date.now() + leadS * 1000;
    for (let i = 0; i < count; i += 1_000) {
      await queue.addBulk(
        Array.from({ length: Math.min(1_000, count - i) }, (_, j) => ({
          name: 'noop',
          data: { n: i + j },
          opts: { delay: Math.max(0, windowStart + Math.floor(((i + j) * windowS * 1000) / count) - Date.now()), removeOnComplete: true, removeOnFail: true },
        })),
      );
    }
    child = new BenchChild('./bare-bullmq-worker.ts', { REDIS_URL: redis.url, BENCH_QUEUE: 'bench-bare-worker', BENCH_PREFIX: prefix, BENCH_JOBS: String(count), BENCH_CONCURRENCY: String(CONCURRENCY) });
    await child.next('ready');
    const idleRssMiB = memoryOf(child.pid).rssMiB;
    await child.next('done', leadS * 1000 + windowS * 1000 + 300_000);
    return { idleRssMiB, peakMiB: memoryOf(child.pid).hwmMiB };
  } finally {
    await child?.stop();
    await queue.close().catch(() => undefined);
    connection.disconnect();
    await redis.stop();
  }
}

/** A Node process that does nothing: the floor of any Node process's memory. */
async function idleNodePeak(): Promise<{ peakMiB: number }> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  try {
    await sleep(1_000);
    return { peakMiB: memoryOf(child.pid).hwmMiB };
  } finally {
    child.kill('SIGKILL');
  }
}
