/**
 * `npm run bench`: Latch's production benchmarks, each beside a baseline measured in the same run
 * on the same machine, with the ratio between them. Sections, in the order they run:
 *
 *   cpu          CPU milliseconds per slash command and per Approve click in `latch web` (utime +
 *                stime of its process over the run, divided by the count) at a fixed rate it can
 *                take, vs the bare Bolt app under the same load (bench/cpu-per-request.ts)
 *   ack          slash-command and Approve-click ack latency p50/p99 under open-loop load, signed as
 *                Slack signs, to a real `latch web` process vs a bare Bolt app that only acks, and
 *                the CPU each spends per request (bench/ack-latency.ts)
 *   cpu-loop     CPU per slash command and per Approve click of `latch web`, closed loop (each
 *                operation whole: stored, announced or updated at Slack) vs the bare Bolt app's
 *                CPU per request (bench/cpu-per-operation.ts)
 *   decisions    decisions per second end to end (click → decision and audit events stored → grant
 *                queued → message update at Slack), concurrent approvers vs pgbench -b
 *                simple-update with as many clients on the same PostgreSQL (bench/decisions.ts)
 *   revocations  revocation lateness of many grants due within a window vs bare BullMQ delayed jobs
 *                (bench/revocation-lateness.ts)
 *   reconcile    after FLUSHALL with many active grants, the time the worker's reconcile takes to put
 *                every revocation job back vs bare BullMQ addBulk of as many delayed jobs
 *                (bench/reconcile-after-flush.ts)
 *   memory       peak memory (VmHWM) of `latch web` under the ack load vs the bare Bolt app (plain
 *                node, no loader), with each one's CPU per request, and of a
 *                `latch worker` revoking grants vs a bare BullMQ worker process and an idle Node
 *                process (bench/worker-memory.ts)
 *   audit        `latch audit export` and `latch audit verify` over a million events vs the raw
 *                SHA-256 rate (bench/audit-chain.ts)
 *
 * BENCH_ONLY=cpu,cpu-loop,ack,decisions,… runs only those (default: all). The run ends with a table of issue
 * 19's targets (bench/targets.ts), each with its figure, baseline and ratio, or "not measured".
 *
 * Settings (environment):
 *   cpu:         BENCH_CPU_REQUESTS (600 of each kind counted), BENCH_CPU_WARMUP (200 of each kind sent
 *                first, not counted), BENCH_CPU_RATE (40 requests/s)
 *   ack:         BENCH_ACK_RATE (200 requests/s), BENCH_ACK_SECONDS (20 measured), BENCH_ACK_WARMUP_S
 *                (5, sent first and not counted), for each of the four runs (2 kinds × 2 apps);
 *                BENCH_ACK_PROBE=1 adds the event-loop probe (bench/event-loop-probe.ts) that
 *                says, for each run, where the target's slow answers went (stalls, collections,
 *                run-queue wait); off by default, as it costs CPU in the processes it measures
 *   cpu-loop:    BENCH_CPU_OPERATIONS (200 commands, then as many clicks), BENCH_CPU_CLIENTS (4 at a time)
 *   decisions:   BENCH_DECISIONS (1000), BENCH_DECISION_CLIENTS (16: approvers clicking at once, and
 *                pgbench's clients), BENCH_PGBENCH_S (10)
 *   revocations: BENCH_GRANTS (100000), BENCH_WINDOW_S (200: due times spread over this window, so
 *                500 due per second), BENCH_LEAD_S (25 + 1 s per 2,000 grants: the window opens this
 *                long after each phase starts), BENCH_CONCURRENCY (50: jobs each worker runs at
 *                once), BENCH_DB_POOL (the concurrency: Prisma's pool), BENCH_TIMEOUT_S (90, or 1 s
 *                per 100 grants if more: how long after the window a phase may take to finish)
 *   reconcile:   BENCH_RECONCILE_GRANTS (100000)
 *   memory:      BENCH_MEMORY_GRANTS (10000), BENCH_MEMORY_WINDOW_S (20), BENCH_MEMORY_LEAD_S (60:
 *                the worker's start-up must fit in it); latch web under the ack settings' load
 *                (slash commands, then clicks) beside the bare Bolt app run as plain node
 *   audit:       BENCH_AUDIT_EVENTS (1000000: the chain exported and verified),
 *                BENCH_AUDIT_SMALL_EVENTS (100000, at most a tenth of it: the export's peak memory
 *                is measured at this size too), BENCH_AUDIT_CPU_PROF_DIR (unset: where `latch audit
 *                verify` writes its CPU profiles, node --cpu-prof)
 *   BENCH_LATCH_NODE_OPTIONS: NODE_OPTIONS for every latch process the sections start (V8 heap
 *   flags, to compare; the flags on bin/latch.js's first line, which every latch process gets, take
 *   precedence). BENCH_CPU_PROF_DIR: a CPU profile (node --cpu-prof) of each latch process, written
 *   there when it stops.
 *   BENCH_DATABASE_URL and BENCH_REDIS_URL (both or neither): a superuser URL and a Redis of your own; otherwise the
 *   services of scripts/services.sh, started if nothing answers and stopped afterwards. Sections
 *   that need a Redis to themselves (ack, decisions, reconcile, memory) start private
 *   redis-servers; every section drops the databases it creates.
 */
import { cpus, loadavg, totalmem } from 'node:os';
import { createLogger } from '../src/logging/logger.ts';
import { migrateDatabase } from '../src/store/migrate.ts';
import { runAckLatency, type AckResult } from './ack-latency.ts';
import { runAuditChainBenchmark } from './audit-chain.ts';
import { runCpuPerRequest } from './cpu-per-request.ts';
import { runCpuPerOperation } from './cpu-per-operation.ts';
import { runDecisions } from './decisions.ts';
import { runReconcileAfterFlush } from './reconcile-after-flush.ts';
import { runWebMemory, runWorkerMemory } from './worker-memory.ts';
import { runBareBullmq, runLatchRevocations, type LatchPhaseResult, type PhaseResult } from './revocation-lateness.ts';
import { createBenchDatabase, ensureServices, type BenchDatabase, type BenchServices } from './services.ts';
import { targetSummary, type TargetFigures } from './targets.ts';

const say = (line: string) => process.stdout.write(`${line}\n`);

function intSetting(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be a whole number of at least ${min}, not ${JSON.stringify(raw)}`);
  return value;
}

const fmt = (value: number, digits = 0) => (Number.isFinite(value) ? value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : 'n/a');
const ms = (value: number) => `${fmt(value)} ms`;
const ratio = (a: number, b: number) => (b > 0 && Number.isFinite(a) ? `×${fmt(a / b, a / b < 0.1 ? 4 : 1)}` : 'n/a');

const SECTIONS = ['cpu', 'cpu-loop', 'ack', 'decisions', 'revocations', 'reconcile', 'memory', 'audit'] as const;
type Section = (typeof SECTIONS)[number];

function selectedSections(): Set<Section> {
  const raw = process.env.BENCH_ONLY?.trim();
  if (!raw || raw === 'all') return new Set(SECTIONS);
  const names = raw.split(',').map((name) => name.trim());
  const unknown = names.filter((name) => !(SECTIONS as readonly string[]).includes(name));
  if (unknown.length) throw new Error(`BENCH_ONLY takes ${SECTIONS.join(', ')} (comma-separated), not ${JSON.stringify(unknown.join(','))}`);
  return new Set(names as Section[]);
}

async function main(): Promise<number> {
  const only = selectedSections();
  const count = intSetting('BENCH_GRANTS', 100_000, 1);
  const windowS = intSetting('BENCH_WINDOW_S', 200, 1);
  const leadS = intSetting('BENCH_LEAD_S', 25 + Math.ceil(count / 2_000), 1);
  const concurrency = intSetting('BENCH_CONCURRENCY', 50, 1);
  const dbPoolSize = intSetting('BENCH_DB_POOL', concurrency, 1);
  const timeoutS = intSetting('BENCH_TIMEOUT_S', Math.max(90, Math.ceil(count / 100)), 1);
  const auditEvents = intSetting('BENCH_AUDIT_EVENTS', 1_000_000, 10);
  const auditSmallEvents = Math.min(intSetting('BENCH_AUDIT_SMALL_EVENTS', 100_000, 1), Math.floor(auditEvents / 10));
  const ack = { rate: intSetting('BENCH_ACK_RATE', 200, 1), seconds: intSetting('BENCH_ACK_SECONDS', 20, 1), warmupS: intSetting('BENCH_ACK_WARMUP_S', 5, 0) };
  const cpuLoop = { count: intSetting('BENCH_CPU_OPERATIONS', 200, 1), clients: intSetting('BENCH_CPU_CLIENTS', 4, 1) };
  const decisions = { decisions: intSetting('BENCH_DECISIONS', 1_000, 1), clients: intSetting('BENCH_DECISION_CLIENTS', 16, 1), pgbenchSeconds: intSetting('BENCH_PGBENCH_S', 10, 1) };
  const cpuLoad = { requests: intSetting('BENCH_CPU_REQUESTS', 600, 1), warmup: intSetting('BENCH_CPU_WARMUP', 200, 0), rate: intSetting('BENCH_CPU_RATE', 40, 1) };
  const reconcileGrants = intSetting('BENCH_RECONCILE_GRANTS', 100_000, 1);
  const memory = { grants: intSetting('BENCH_MEMORY_GRANTS', 10_000, 1), windowS: intSetting('BENCH_MEMORY_WINDOW_S', 20, 1), leadS: intSetting('BENCH_MEMORY_LEAD_S', 60, 1) };

  const cpu = cpus();
  say(`Latch benchmarks: ${[...only].join(', ')}`);
  say(`machine: ${cpu.length} CPU(s), ${cpu[0]?.model.trim() ?? 'unknown model'}, ${fmt(totalmem() / 1024 ** 3, 1)} GiB RAM, Node ${process.version}, ${process.platform}/${process.arch}, load average ${loadavg().map((l) => fmt(l, 2)).join(' ')} at the start`);

  let services: BenchServices | undefined;
  let database: BenchDatabase | undefined;
  let auditDatabase: BenchDatabase | undefined;
  const cleanup = async () => {
    for (const created of [database, auditDatabase]) {
      await created?.drop().catch((error: unknown) => say(`cleanup: could not drop ${created.name}: ${(error as Error).message}`));
    }
    database = auditDatabase = undefined;
    if (services) {
      if (services.started) await services.stop().catch((error: unknown) => say(`cleanup: could not stop services: ${(error as Error).message}`));
      services = undefined;
    }
  };
  const interrupted = () => {
    say('interrupted: cleaning up');
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  // A connection a library could not hand back as an error (a service stopped under the run).
  const crashed = (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? error.message : String(error)}\n`);
    void cleanup().finally(() => process.exit(1));
  };
  process.once('uncaughtException', crashed);
  process.once('unhandledRejection', crashed);

  const problems: string[] = [];
  const heading = (title: string) => {
    say('');
    say(`== ${title} (load average ${loadavg().map((l) => fmt(l, 2)).join(' ')})`);
  };
  const figures: TargetFigures = {};
  try {
    services = await ensureServices(say);
    const adminDatabaseUrl = services.adminDatabaseUrl;
    let ackResult: AckResult | undefined;

    if (only.has('cpu')) {
      heading(`CPU per request: ${fmt(cpuLoad.requests)} slash commands, then as many Approve clicks, at ${fmt(cpuLoad.rate)}/s after ${fmt(cpuLoad.warmup)} of each not counted`);
      const result = await runCpuPerRequest({ adminDatabaseUrl, ...cpuLoad, say });
      for (const kind of ['command', 'click'] as const) {
        const { latchMs, workerMs, bareMs } = result[kind];
        say(`CPU per ${kind === 'command' ? 'slash command' : 'Approve click'} at ${fmt(cpuLoad.rate)}/s: latch web ${fmt(latchMs, 2)} ms, its Slack notices in latch worker ${fmt(workerMs, 2)} ms (both ${fmt(latchMs + workerMs, 2)} ms), bare Bolt ${fmt(bareMs, 2)} ms; Latch web / bare ${ratio(latchMs, bareMs)}; target ≤ 3 ms (Latch web / target ${ratio(latchMs, 3)})`);
      }
      say(`CPU per Slack Web API call (chat.postMessage, in the calling process): Latch's client ${fmt(result.slackCallMs.latch, 3)} ms, default WebClient ${fmt(result.slackCallMs.nodeFetch, 3)} ms; Latch / default ${ratio(result.slackCallMs.latch, result.slackCallMs.nodeFetch)}`);
      say(`peak memory (VmHWM) at ${fmt(cpuLoad.rate)}/s: latch web ${fmt(result.peakMiB.latch)} MiB, bare Bolt ${fmt(result.peakMiB.bare)} MiB; Latch / bare ${ratio(result.peakMiB.latch, result.peakMiB.bare)}`);
      say(`Slack calls Latch made: ${JSON.stringify(result.slackCalls)}`);
      if (Object.keys(result.problems).length) say(`latch web logged warnings or errors: ${JSON.stringify(result.problems)}`);
      if (result.command.notTaken || result.click.notTaken) problems.push(`cpu: at ${cpuLoad.rate}/s ${result.command.notTaken} slash commands were not stored and announced and ${result.click.notTaken} clicks approved nothing (see latch web's log lines above): CPU per request counts served requests only when every one is served`);
      figures.cpu = { commandMs: result.command.latchMs, commandWorkerMs: result.command.workerMs, commandBareMs: result.command.bareMs, clickMs: result.click.latchMs, clickWorkerMs: result.click.workerMs, clickBareMs: result.click.bareMs };
    }

    if (only.has('ack')) {
      heading(`ack latency: ${fmt(ack.rate)} requests/s open-loop for ${ack.seconds} s after ${ack.warmupS} s of warm-up, each kind to each app`);
      ackResult = await runAckLatency({ adminDatabaseUrl, ...ack, probe: process.env.BENCH_ACK_PROBE === '1', say });
      for (const kind of ['command', 'click'] as const) {
        const latchPhase = ackResult.phases.find((phase) => phase.kind === kind && phase.target === 'latch')!;
        const barePhase = ackResult.phases.find((phase) => phase.kind === kind && phase.target === 'bare')!;
        const [latch, bare] = [latchPhase.result, barePhase.result];
        const what = kind === 'command' ? 'slash command' : 'Approve click';
        say(`${what} ack latency at ${fmt(ack.rate)}/s: latch web p50 ${fmt(latch.latencyMs.p50, 1)} ms, p99 ${fmt(latch.latencyMs.p99, 1)} ms; bare Bolt p50 ${fmt(bare.latencyMs.p50, 1)} ms, p99 ${fmt(bare.latencyMs.p99, 1)} ms; Latch / bare: p50 ${ratio(latch.latencyMs.p50, bare.latencyMs.p50)}, p99 ${ratio(latch.latencyMs.p99, bare.latencyMs.p99)}`);
        // CPU per request: the process's CPU over the phase (its work after each ack included) per request answered.
        const [latchCpuMs, bareCpuMs] = [latchPhase, barePhase].map((phase) => (phase.cpuCoreShare * 1000) / phase.result.achievedRate) as [number, number];
        say(`${what} CPU per request at ${fmt(ack.rate)}/s: latch web ${fmt(latchCpuMs, 2)} ms (target at most 3 ms: ${latchCpuMs <= 3 ? 'met' : 'not met'}); bare Bolt ${fmt(bareCpuMs, 2)} ms; Latch / bare ${ratio(latchCpuMs, bareCpuMs)}`);
        if (latch.failed) problems.push(`${latch.failed} ${what}s to latch web were not answered 200: ${JSON.stringify(latch.statuses)}`);
      }
      // Acked and not refused as busy must equal stored: a refusal says so in its ack; anything else lost was lost after the ack.
      const taken = ackResult.commandsSent - ackResult.commandsRefused;
      say(`slash commands: ${fmt(ackResult.commandsSent)} acked, ${fmt(ackResult.commandsRefused)} of them refused as busy, ${fmt(ackResult.requestsStored)} stored`);
      if (ackResult.requestsStored < taken - ackResult.commandsUnanswered || ackResult.requestsStored > taken) {
        problems.push(`ack: latch web took ${fmt(taken)} slash commands at ${fmt(ack.rate)}/s (acked ${fmt(ackResult.commandsSent)}, refused ${fmt(ackResult.commandsRefused)} as busy) but stored ${fmt(ackResult.requestsStored)} requests (announced ${fmt(ackResult.requestsCreated)}): the difference failed after the ack (see its log lines below)`);
      }
      say(`Slack calls Latch made: ${JSON.stringify(ackResult.slackCalls)}`);
      const updates = ackResult.updates;
      if (updates && updates.made < updates.expected) problems.push(`ack: ${fmt(updates.expected - updates.made)} of the ${fmt(updates.expected)} message updates the approvals make never reached Slack (chat.update)`);
      if (Object.keys(ackResult.problems).length) say(`latch web logged warnings or errors: ${JSON.stringify(ackResult.problems)}`);
      const p99 = (kind: 'command' | 'click', target: 'latch' | 'bare') => ackResult!.phases.find((phase) => phase.kind === kind && phase.target === target)!.result.latencyMs.p99;
      figures.ack = {
        rate: ack.rate,
        command: { p99: p99('command', 'latch'), bareP99: p99('command', 'bare'), refused: ackResult.commandsRefused },
        click: { p99: p99('click', 'latch'), bareP99: p99('click', 'bare'), refused: ackResult.clicks ? ackResult.clicks.sent - ackResult.clicks.approved : null },
      };
      figures.webMemory = { peakMiB: ackResult.memory.latch.peakMiB, barePeakMiB: ackResult.memory.bare.peakMiB };
    }

    if (only.has('cpu-loop')) {
      heading(`CPU per operation: ${fmt(cpuLoop.count)} slash commands, then as many Approve clicks, ${cpuLoop.clients} at a time, each until its Slack calls are made`);
      const result = await runCpuPerOperation({ adminDatabaseUrl, ...cpuLoop, say });
      for (const [what, latch, worker, bare] of [
        ['slash command', result.latch.commandMs, result.worker.commandMs, result.bare.commandMs],
        ['Approve click', result.latch.clickMs, result.worker.clickMs, result.bare.clickMs],
      ] as const) {
        say(`CPU per ${what}: latch web ${fmt(latch, 2)} ms (target at most 3 ms: ${latch <= 3 ? 'met' : 'not met'}); its Slack notices in latch worker ${fmt(worker, 2)} ms (both ${fmt(latch + worker, 2)} ms); bare Bolt app ${fmt(bare, 2)} ms per request; Latch web / bare ${ratio(latch, bare)}`);
      }
    }

    if (only.has('decisions')) {
      heading(`decisions per second: ${fmt(decisions.decisions)} approvals by ${decisions.clients} concurrent approvers`);
      const result = await runDecisions({ adminDatabaseUrl, ...decisions, say });
      figures.decisions = { perSecond: result.perSecond, pgbenchTps: result.pgbench.tps };
      say(
        `decisions end to end: ${fmt(result.perSecond, 1)}/s with ${decisions.clients} concurrent approvers (click → message update p50 ${ms(result.latencyMs.p50)}, p99 ${ms(result.latencyMs.p99)}; latch web CPU ${fmt(result.cpuCoreShare * 100)}% of a core); ` +
          `pgbench simple-update ${fmt(result.pgbench.tps)} transactions/s with ${result.pgbench.clients} clients; Latch / pgbench ${ratio(result.perSecond, result.pgbench.tps)} (${fmt(result.pgbench.tps / result.perSecond, 0)} pgbench transactions per decision)`,
      );
      say(`all granted by latch worker: ${fmt(result.grantedPerSecond, 1)} decisions/s from the first click to the last grant`);
      say(`checks: ${fmt(result.checks.approved)} requests approved, ${fmt(result.checks.approvalEvents)} approval.recorded and ${fmt(result.checks.approvedEvents)} request.approved audit events, ${fmt(result.checks.granted)} granted by the worker`);
      if (Object.keys(result.problems).length) say(`latch web or worker logged warnings or errors: ${JSON.stringify(result.problems)}`);
      const { approved, approvedEvents, approvalEvents, granted } = result.checks;
      if (result.decided < decisions.decisions || approved !== result.decided || approvedEvents !== approved || approvalEvents !== approved || granted !== approved) {
        problems.push(`decisions: ${result.decided} of ${decisions.decisions} reached Slack; approved ${approved}, audit events ${approvalEvents}/${approvedEvents}, granted ${granted}`);
      }
    }

    if (only.has('revocations')) {
      heading(`revocation lateness: ${fmt(count)} grants due over a ${windowS} s window (${fmt(count / windowS)} due per second) opening ${leadS} s after each phase starts`);
      say(`worker concurrency ${concurrency}, Prisma pool ${dbPoolSize}, access-lock pool ${concurrency * 2}; each phase may run ${timeoutS} s past its window`);
      problems.push(...(await revocations({ adminDatabaseUrl, redisUrl: services.redisUrl, count, windowS, leadS, concurrency, dbPoolSize, timeoutS }, (created) => (database = created))));
      database = undefined;
    }

    if (only.has('reconcile')) {
      heading(`reconcile after FLUSHALL with ${fmt(reconcileGrants)} active grants`);
      const result = await runReconcileAfterFlush({ adminDatabaseUrl, grants: reconcileGrants, say });
      say(
        `reconcile after FLUSHALL: ${fmt(result.restored)} of ${fmt(result.grants)} revocation jobs back in ${fmt(result.reconcileMs / 1000, 1)} s (${fmt((result.grants / result.reconcileMs) * 1000)} grants/s; reading PostgreSQL alone ${fmt(result.readOnlyMs / 1000, 1)} s); ` +
          `bare BullMQ addBulk of as many delayed jobs ${fmt(result.bareAddBulkMs / 1000, 1)} s; Latch / bare ${ratio(result.reconcileMs, result.bareAddBulkMs)}`,
      );
      if (result.dueDuringReconcile) say(`note: ${fmt(result.dueDuringReconcile)} grants fell due while reconcile ran (queued one by one, the overdue path)`);
      if (result.restored !== result.grants || result.sampledMissing) problems.push(`reconcile put back ${result.restored} of ${result.grants} revocation jobs (${result.sampledMissing} of 200 sampled missing)`);
    }

    if (only.has('memory')) {
      heading(`peak memory: latch web under the ack load, latch worker revoking ${fmt(memory.grants)} grants due over ${memory.windowS} s`);
      say(`latch web and the bare Bolt app (plain node) under ${fmt(ack.rate)} slash commands/s, then as many Approve clicks/s, for ${ack.seconds} s each after ${ack.warmupS} s:`);
      const web = await runWebMemory({ adminDatabaseUrl, ...ack, say });
      const worker = await runWorkerMemory({ adminDatabaseUrl, ...memory, say });
      figures.webMemory = { peakMiB: web.latch.peakMiB, barePeakMiB: web.bare.peakMiB };
      say(`peak memory (VmHWM), latch web under the ack load: ${fmt(web.latch.peakMiB)} MiB (${fmt(web.latch.idleRssMiB)} MiB once started); bare Bolt app: ${fmt(web.bare.peakMiB)} MiB (${fmt(web.bare.idleRssMiB)} MiB once started); Latch / bare ${ratio(web.latch.peakMiB, web.bare.peakMiB)}`);
      say(`CPU per request meanwhile: latch web ${fmt(web.latch.cpuMs.command, 2)} ms a slash command, ${fmt(web.latch.cpuMs.click, 2)} ms a click (${fmt(web.commandsRefused)} commands refused as busy); bare Bolt ${fmt(web.bare.cpuMs.command, 2)} / ${fmt(web.bare.cpuMs.click, 2)} ms`);
      if (Object.keys(web.problems).length) say(`latch web logged warnings or errors: ${JSON.stringify(web.problems)}`);
      say(
        `peak memory (VmHWM), latch worker revoking ${fmt(worker.revoked)} grants: ${fmt(worker.latchWorker.peakMiB)} MiB (${fmt(worker.latchWorker.idleRssMiB)} MiB once started); bare BullMQ worker: ${fmt(worker.bareWorker.peakMiB)} MiB; Latch / bare ${ratio(worker.latchWorker.peakMiB, worker.bareWorker.peakMiB)}; ` +
          `idle bare Node: ${fmt(worker.bareNode.peakMiB)} MiB`,
      );
      say(`latch worker during the run: CPU ${fmt(worker.latchWorker.cpuCoreShare * 100)}% of a core; revocation lateness p50 ${ms(worker.latchWorker.lateness.p50)}, p99 ${ms(worker.latchWorker.lateness.p99)} (webhook provider, Slack notices included)`);
      if (Object.keys(worker.problems).length) say(`latch worker logged warnings or errors: ${JSON.stringify(worker.problems)}`);
      if (worker.revoked < worker.grants) problems.push(`memory: latch worker revoked ${worker.revoked} of ${worker.grants} grants`);
    }

    if (only.has('audit')) {
      heading(`audit chain: ${fmt(auditEvents)} events, the export's memory also at ${fmt(auditSmallEvents)}`);
      auditDatabase = await createBenchDatabase(adminDatabaseUrl);
      if (!(await runAuditChainBenchmark({ database: auditDatabase, events: auditEvents, smallEvents: auditSmallEvents, say, figures: (audit) => (figures.audit = audit), cpuProfileDir: process.env.BENCH_AUDIT_CPU_PROF_DIR || undefined }))) problems.push('audit: a check failed (above)');
    }

    say('');
    say(`== issue 19's targets (decisions: the recorded baseline is main before issue 19; the others are measured in this run)`);
    for (const line of targetSummary(figures)) say(line);
    say('');
    for (const problem of problems) say(`FAILED: ${problem}`);
    say(`done; load average ${loadavg().map((l) => fmt(l, 2)).join(' ')} at the end`);
    return problems.length ? 1 : 0;
  } finally {
    await cleanup();
  }
}

interface RevocationSettings {
  adminDatabaseUrl: string;
  redisUrl: string;
  count: number;
  windowS: number;
  leadS: number;
  concurrency: number;
  dbPoolSize: number;
  timeoutS: number;
}

/** The revocation-lateness section; returns its failed checks. */
async function revocations(settings: RevocationSettings, created: (database: BenchDatabase) => void): Promise<string[]> {
  const { count, windowS, leadS, concurrency, dbPoolSize, timeoutS } = settings;
  const database = await createBenchDatabase(settings.adminDatabaseUrl);
  created(database);
  const migrateStart = Date.now();
  await migrateDatabase({ databaseUrl: database.url, logger: createLogger({ level: 'silent' }) });
  say(`database ${database.name} created and migrated in ${Date.now() - migrateStart} ms`);

  const phase = { redisUrl: settings.redisUrl, count, windowMs: windowS * 1000, leadMs: leadS * 1000, concurrency, timeoutMs: timeoutS * 1000, say };
  say('phase 1: Latch (JobQueues.scheduleRevocations → runJobs → revoke-grant job → revokeGrant, no-op provider)');
  const latch = await runLatchRevocations({ ...phase, databaseUrl: database.url, dbPoolSize });
  say('phase 2: bare BullMQ (Queue.addBulk of delayed jobs → Worker with a no-op processor)');
  const bare = await runBareBullmq(phase);

  say('');
  say(`revocation lateness (Latch, ${fmt(count)} grants, ${windowS} s window): ${latenessLine(latch, 'revocations')}`);
  say(`delayed-job lateness (bare BullMQ, ${fmt(count)} jobs, ${windowS} s window): ${latenessLine(bare, 'jobs')}`);
  say(`Latch / bare BullMQ: p50 ${ratio(latch.lateness.p50, bare.lateness.p50)}, p99 ${ratio(latch.lateness.p99, bare.lateness.p99)}, max ${ratio(latch.lateness.max, bare.lateness.max)}`);
  say(`demand: ${fmt(count / windowS)} due per second during the window`);
  say('');
  say('the revoke worker runs inside the benchmark process, so these figures are its process:');
  say(`peak memory (Latch run): ${memoryLine(latch)}`);
  say(`peak memory (bare BullMQ run): ${memoryLine(bare)}`);
  say(`process CPU (Latch run): ${fmt(latch.cpuCoreShare * 100)}% of one core over ${fmt(latch.runMs / 1000, 1)} s; event-loop delay p99 ${ms(latch.eventLoopDelayMs.p99)}, max ${ms(latch.eventLoopDelayMs.max)}`);
  say(`process CPU (bare BullMQ run): ${fmt(bare.cpuCoreShare * 100)}% of one core over ${fmt(bare.runMs / 1000, 1)} s; event-loop delay p99 ${ms(bare.eventLoopDelayMs.p99)}, max ${ms(bare.eventLoopDelayMs.max)}`);
  const { where } = latch;
  say(
    `where the Latch lateness goes: handler started late p50 ${ms(where.startedLate.p50)}, p99 ${ms(where.startedLate.p99)}; ` +
      `handler p50 ${ms(where.handlerMs.p50)}, p99 ${ms(where.handlerMs.p99)} (${fmt(where.handlerRuns)} runs), of which the access lock's wait p50 ${ms(where.lockWaitMs.p50)}, p99 ${ms(where.lockWaitMs.p99)}`,
  );
  say(
    `  handlers running at once: mean ${fmt(where.runningAtOnce.mean, 1)}, max ${fmt(where.runningAtOnce.max)} of ${fmt(concurrency)}; ` +
      `due jobs in Redis (${fmt(where.dueInRedis.samples)} samples): not yet promoted mean ${fmt(where.dueInRedis.delayedMean)}, max ${fmt(where.dueInRedis.delayedMax)}; ` +
      `in the wait list mean ${fmt(where.dueInRedis.waitMean)}, max ${fmt(where.dueInRedis.waitMax)}`,
  );
  say(`PostgreSQL sessions of the bench database during the Latch run (average of ${latch.postgresSessions.samples} samples):`);
  for (const { state, average } of latch.postgresSessions.byState) say(`  ${fmt(average, 1).padStart(6)}  ${state}`);
  say(
    `checks: ${fmt(latch.done)} grants revoked, ${fmt(latch.checks.requestsRevoked)} requests revoked, ` +
      `${fmt(latch.checks.auditEvents)} grant.revoked audit events, ${fmt(latch.checks.providerRevokes)} provider revokes`,
  );

  const problems: string[] = [];
  if (latch.done < count) problems.push(`Latch revoked ${fmt(latch.done)} of ${fmt(count)} grants within ${timeoutS} s after the window (figures above cover those revoked)`);
  if (bare.done < count) problems.push(`bare BullMQ ran ${fmt(bare.done)} of ${fmt(count)} jobs within ${timeoutS} s after the window`);
  if (latch.checks.requestsRevoked !== latch.done || latch.checks.auditEvents !== latch.done) problems.push('revoked grants, revoked requests and audit events do not match');
  for (const [label, result] of [['Latch', latch], ['bare BullMQ', bare]] as const) {
    if (result.setupOverran) problems.push(`${label} setup took ${fmt(result.setupMs)} ms, longer than the ${leadS} s lead: raise BENCH_LEAD_S`);
  }
  await database.drop();
  return problems;
}

function latenessLine(result: PhaseResult | LatchPhaseResult, what: string): string {
  const { p50, p99, max } = result.lateness;
  const partial = result.done < result.count ? ` [only ${fmt(result.done)} of ${fmt(result.count)} done]` : '';
  return `p50 ${ms(p50)}  p99 ${ms(p99)}  max ${ms(max)}  (${fmt(result.sustainedPerSecond)} ${what}/s from first due to last done; busiest second ${fmt(result.busiestSecond)})${partial}`;
}

function memoryLine(result: PhaseResult): string {
  const m = result.memory;
  return `RSS ${fmt(m.rssMiB)} MiB, heap used ${fmt(m.heapUsedMiB)} MiB (heap total ${fmt(m.heapTotalMiB)} MiB); at its start RSS ${fmt(m.startRssMiB)} MiB, heap used ${fmt(m.startHeapUsedMiB)} MiB`;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
