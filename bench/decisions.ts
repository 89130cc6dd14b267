import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import pg from 'pg';
import { APPROVE } from '../src/slack/blocks/ids.ts';
import { problemsLogged, waitForCount } from './ack-latency.ts';
import { cpuSecondsOf } from './child-processes.ts';
import { budgetLines, CpuBudgetSampler, type CpuBudget } from './cpu-budget.ts';
import { BENCH_APPROVAL_CHANNEL, BENCH_APPROVER, makePendingRequests, startLatchStack } from './latch-stack.ts';
import { percentiles, type Percentiles } from './revocation-lateness.ts';
import { createBenchDatabase } from './services.ts';
import { startWebhookSink } from './webhook-sink.ts';

const run = promisify(execFile);

/**
 * Decisions per second end to end: `clients` approvers each click Approve on a pending request,
 * wait until that decision has reached Slack (the approval message's `chat.update` arrives at the
 * fake Slack: by then the decision and its audit events are committed and the grant job queued,
 * since Latch updates the message after both), then click the next: a closed loop of `clients`
 * concurrent decisions, like pgbench's clients. Latch runs as in production: a `latch web` and a
 * `latch worker` process, the worker granting each approved request through the policy's webhook
 * provider (a receiver in the bench driver that answers 204 at once). The section's window runs
 * from the first click until every grant is done, and its CPU is accounted process by process
 * (bench/cpu-budget.ts): latch web, latch worker, the database's PostgreSQL backends, Redis, the
 * fake Slack and the driver, per decision, with the ceiling that sum sets on this machine, and the
 * Slack calls the fake got meanwhile, per decision by method (a rewrite of a request's messages is
 * two updates, an outcome one DM; a second DM of one outcome would show here). Beside it, pgbench's built-in simple-update
 * script (`-b simple-update`, i.e. `-N`) with the same number of clients, on the same PostgreSQL,
 * in its own database, in the same run.
 *
 * The pending requests are made first through `/request-access` with arguments, as people would,
 * in batches that Latch stores and announces before the next (see makePendingRequests).
 */
export interface DecisionOptions {
  adminDatabaseUrl: string;
  decisions: number;
  clients: number;
  pgbenchSeconds: number;
  say(line: string): void;
}

export interface DecisionResult {
  decided: number;
  perSecond: number;
  /** From the click to its message update, each decision. */
  latencyMs: Percentiles;
  /** CPU latch web used during the decisions, as a share of one core. */
  cpuCoreShare: number;
  /** From the first click until the last grant was done (the worker may finish after the last update). */
  grantedPerSecond: number;
  budget: CpuBudget;
  /** The budget as printed (CPU ms per decision by process, the ceiling, the backends' waits). */
  budgetLines: string[];
  pgbench: { tps: number; clients: number; seconds: number; version: string };
  /** Requests approved or already granted (active), their audit events, and grants done by the worker. */
  checks: { approved: number; approvedEvents: number; approvalEvents: number; granted: number };
  problems: Record<string, number>;
}

export async function runDecisions({ adminDatabaseUrl, decisions, clients, pgbenchSeconds, say }: DecisionOptions): Promise<DecisionResult> {
  const webhook = await startWebhookSink();
  const webhookUrl = webhook.url;
  const stack = await startLatchStack({ adminDatabaseUrl, role: 'web', webhookUrl, grants: 'run', say }).catch(async (error: unknown) => {
    await webhook.close();
    throw error;
  });
  const probe = new pg.Client({ connectionString: stack.database.url, application_name: 'latch-bench-probe' });
  probe.on('error', () => undefined);
  const slack = stack.slack.listen();
  // The stack's worker posts the notices web queues and grants each approval (application_name
  // tells web's and worker's backends apart in pg_stat_activity, for the budget's lock waits).
  const worker = stack.worker!;
  try {
    await probe.connect();
    const made = performance.now();
    const announced = await makePendingRequests(stack, probe, decisions, say);
    say(`  ${announced.toLocaleString('en-US')} pending requests made through /request-access in ${((performance.now() - made) / 1000).toFixed(1)} s (in batches, each announced before the next)`);
    const { rows } = await probe.query<{ id: string; ts: string }>(
      `SELECT id, approval_message_ts AS ts FROM access_requests WHERE state = 'pending' AND approval_message_ts IS NOT NULL ORDER BY created_at`,
    );

    const redis = stack.redis.client();
    const sampler = new CpuBudgetSampler({
      databaseUrl: stack.database.url,
      redis,
      processes: { 'latch web': stack.latch.pid, 'latch worker': worker.pid, 'redis-server': stack.redis.pid, 'fake Slack': stack.slack.pid },
    });
    await sampler.start();
    const latencies: number[] = [];
    let taken = 0;
    const slackBefore = await stack.slack.counts();
    const cpuBefore = cpuSecondsOf(stack.latch.pid);
    const started = Date.now();
    await Promise.all(
      Array.from({ length: clients }, async () => {
        for (let i = taken++; i < rows.length; i = taken++) {
          const { id, ts } = rows[i]!;
          const updated = slack.updated(ts);
          const clickedAt = Date.now();
          const response = await stack.sender.click(BENCH_APPROVER, APPROVE, id, BENCH_APPROVAL_CHANNEL, 'latch_approval_actions:r1');
          await response.arrayBuffer();
          const at = await withDeadline(updated, 120_000);
          if (Number.isFinite(at)) latencies.push(at - clickedAt);
        }
      }),
    );
    const elapsedMs = Date.now() - started;
    const cpuCoreShare = (cpuSecondsOf(stack.latch.pid) - cpuBefore) / (elapsedMs / 1000);
    say(`  ${latencies.length.toLocaleString('en-US')} decisions by ${clients} concurrent approvers in ${(elapsedMs / 1000).toFixed(1)} s`);
    const granted = await waitForCount(probe, 'SELECT count(*) AS n FROM grants WHERE granted_at IS NOT NULL', latencies.length, 120_000, (n) =>
      say(`  … ${n.toLocaleString('en-US')} of ${latencies.length.toLocaleString('en-US')} approved requests granted by latch worker`),
    );
    const grantedMs = Date.now() - started;
    const budget = await sampler.stop().finally(() => redis.disconnect());
    say(`  ${granted.toLocaleString('en-US')} granted by latch worker through the webhook provider (${webhook.calls().toLocaleString('en-US')} webhook calls) ${((grantedMs - elapsedMs) / 1000).toFixed(1)} s after the last update`);
    const lines = budgetLines(budget, latencies.length, 'decision', cpus().length);
    lines.push(slackCallsLine(slackBefore, await stack.slack.counts(), latencies.length));
    for (const line of lines) say(line);

    const checks = await probe.query<{ approved: string; approved_events: string; approval_events: string }>(
      `SELECT (SELECT count(*) FROM access_requests WHERE state IN ('approved', 'active')) AS approved,
              (SELECT count(*) FROM audit_events WHERE action = 'request.approved') AS approved_events,
              (SELECT count(*) FROM audit_events WHERE action = 'approval.recorded') AS approval_events`,
    );
    const pgbench = await runPgbench(adminDatabaseUrl, clients, pgbenchSeconds, say);
    return {
      decided: latencies.length,
      perSecond: (latencies.length / elapsedMs) * 1000,
      latencyMs: percentiles(latencies),
      cpuCoreShare,
      grantedPerSecond: (granted / grantedMs) * 1000,
      budget,
      budgetLines: lines,
      pgbench,
      checks: {
        approved: Number(checks.rows[0]!.approved),
        approvedEvents: Number(checks.rows[0]!.approved_events),
        approvalEvents: Number(checks.rows[0]!.approval_events),
        granted,
      },
      problems: { ...problemsLogged(stack.latch.stdout), ...prefixed('worker ', problemsLogged(worker.stdout)) },
    };
  } finally {
    await probe.end().catch(() => undefined);
    await stack.stop();
    await webhook.close();
  }
}

/** The Slack calls the fake got during the decisions and their grants, per decision, by method. */
function slackCallsLine(before: Record<string, number>, after: Record<string, number>, decisions: number): string {
  const per = Object.entries(after)
    .map(([method, n]) => [method, (n - (before[method] ?? 0)) / Math.max(1, decisions)] as const)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1]);
  const total = per.reduce((sum, [, n]) => sum + n, 0);
  return `  Slack calls per decision: ${total.toFixed(2)} (${per.map(([method, n]) => `${method} ${n.toFixed(2)}`).join(', ')})`;
}

function prefixed(prefix: string, counts: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).map(([key, n]) => [`${prefix}${key}`, n]));
}

function withDeadline(promise: Promise<number>, ms: number): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise<number>((resolve) => (timer = setTimeout(() => resolve(Number.NaN), ms)))]).finally(() => clearTimeout(timer));
}

/** The pgbench of the PostgreSQL server that runs (scripts/services.sh installs it with the server). */
export function findPgbench(): string {
  const versions = existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a)) : [];
  for (const version of versions) {
    const path = `/usr/lib/postgresql/${version}/bin/pgbench`;
    if (existsSync(path)) return path;
  }
  return 'pgbench';
}

/** `pgbench -b simple-update` (the `-N` script) with `clients` clients, in a database of its own. */
async function runPgbench(adminDatabaseUrl: string, clients: number, seconds: number, say: (line: string) => void) {
  const database = await createBenchDatabase(adminDatabaseUrl);
  const pgbench = findPgbench();
  try {
    const url = new URL(database.url);
    const connection = ['-h', url.hostname, '-p', url.port || '5432', '-U', decodeURIComponent(url.username)];
    const env = { ...process.env, ...(url.password ? { PGPASSWORD: decodeURIComponent(url.password) } : {}) };
    const version = (await run(pgbench, ['--version'], { env })).stdout.trim();
    // Scale 10: a million accounts, so the clients rarely update the same row.
    await run(pgbench, ['-i', '-q', '-s', '10', ...connection, database.name], { env });
    const { stdout } = await run(pgbench, ['-b', 'simple-update', '-n', '-c', String(clients), '-j', String(Math.min(clients, 2)), '-T', String(seconds), ...connection, database.name], { env });
    const tps = Number(/^tps = ([\d.]+)/m.exec(stdout)?.[1] ?? Number.NaN);
    say(`  pgbench -b simple-update -c ${clients} -T ${seconds}: ${tps.toFixed(0)} transactions/s (${version})`);
    return { tps, clients, seconds, version };
  } finally {
    await database.drop();
  }
}
