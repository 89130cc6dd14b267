/**
 * `npm run bench`: revocation lateness when many grants expire within the same minute, beside
 * bare BullMQ delayed-job lateness measured in the same run on the same PostgreSQL and Redis;
 * then the audit chain at scale (bench/audit-chain.ts): `latch audit export` (JSON lines and CSV)
 * and `latch audit verify` over a million events as child processes, their events/s and peak
 * memory at two sizes, beside the raw SHA-256 rate of this machine in the same run.
 *
 * BENCH_ONLY=revocations or BENCH_ONLY=audit runs only that one (default: both, in that order).
 *
 * Settings (environment): BENCH_GRANTS (10000), BENCH_WINDOW_S (20: due times spread over this
 * window), BENCH_LEAD_S (25: the window opens this long after each phase starts), BENCH_CONCURRENCY
 * (50: jobs each worker runs at once), BENCH_DB_POOL (the concurrency: Prisma's pool),
 * BENCH_TIMEOUT_S (90: how long after the window a phase may take to finish),
 * BENCH_DATABASE_URL and BENCH_REDIS_URL (a superuser URL and a Redis of your own; otherwise the
 * services of scripts/services.sh, started if nothing answers and stopped afterwards).
 * Audit chain: BENCH_AUDIT_EVENTS (1000000: the chain exported and verified), BENCH_AUDIT_SMALL_EVENTS
 * (100000, at most a tenth of it: the export's peak memory is measured at this size too).
 */
import { cpus, totalmem } from 'node:os';
import { createLogger } from '../src/logging/logger.ts';
import { migrateDatabase } from '../src/store/migrate.ts';
import { runAuditChainBenchmark } from './audit-chain.ts';
import { runBareBullmq, runLatchRevocations, type LatchPhaseResult, type PhaseResult } from './revocation-lateness.ts';
import { createBenchDatabase, ensureServices, type BenchDatabase, type BenchServices } from './services.ts';

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
const ratio = (a: number, b: number) => (b > 0 && Number.isFinite(a) ? `×${fmt(a / b, 1)}` : 'n/a');

async function main(): Promise<number> {
  const count = intSetting('BENCH_GRANTS', 10_000, 1);
  const windowS = intSetting('BENCH_WINDOW_S', 20, 1);
  const leadS = intSetting('BENCH_LEAD_S', 25, 1);
  const concurrency = intSetting('BENCH_CONCURRENCY', 50, 1);
  const dbPoolSize = intSetting('BENCH_DB_POOL', concurrency, 1);
  const timeoutS = intSetting('BENCH_TIMEOUT_S', 90, 1);
  const only = process.env.BENCH_ONLY || 'all';
  if (!['all', 'revocations', 'audit'].includes(only)) throw new Error(`BENCH_ONLY must be revocations or audit, not ${JSON.stringify(only)}`);
  const auditEvents = intSetting('BENCH_AUDIT_EVENTS', 1_000_000, 10);
  const auditSmallEvents = Math.min(intSetting('BENCH_AUDIT_SMALL_EVENTS', 100_000, 1), Math.floor(auditEvents / 10));

  const cpu = cpus();
  say(only === 'audit' ? 'Latch audit-chain benchmark' : 'Latch revocation-lateness benchmark');
  say(`machine: ${cpu.length} CPU(s), ${cpu[0]?.model.trim() ?? 'unknown model'}, ${fmt(totalmem() / 1024 ** 3, 1)} GiB RAM, Node ${process.version}, ${process.platform}/${process.arch}`);
  if (only !== 'audit') {
    say(
      `settings: ${fmt(count)} grants due over a ${windowS} s window opening ${leadS} s after each phase starts; ` +
        `worker concurrency ${concurrency}, Prisma pool ${dbPoolSize}, access-lock pool ${concurrency * 2}`,
    );
    say(`expect about ${2 * (leadS + windowS) + 15} s when Latch keeps up (each phase: lead + window + drain)`);
  }

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

  // The audit-chain benchmark, after the revocations (or alone): 0 when its checks pass.
  const audit = async (running: BenchServices): Promise<number> => {
    if (only === 'revocations') return 0;
    say('');
    say(`Latch audit-chain benchmark: ${fmt(auditEvents)} events, the export's memory also at ${fmt(auditSmallEvents)}`);
    auditDatabase = await createBenchDatabase(running.adminDatabaseUrl);
    return (await runAuditChainBenchmark({ database: auditDatabase, events: auditEvents, smallEvents: auditSmallEvents, say })) ? 0 : 1;
  };

  try {
    services = await ensureServices(say);
    if (only === 'audit') return await audit(services);
    database = await createBenchDatabase(services.adminDatabaseUrl);
    const migrateStart = Date.now();
    await migrateDatabase({ databaseUrl: database.url, logger: createLogger({ level: 'silent' }) });
    say(`database ${database.name} created and migrated in ${Date.now() - migrateStart} ms`);

    const phase = { redisUrl: services.redisUrl, count, windowMs: windowS * 1000, leadMs: leadS * 1000, concurrency, timeoutMs: timeoutS * 1000, say };
    say('');
    say('phase 1: Latch (AccessQueues.scheduleRevocations → startAccessWorkers → revokeGrant, no-op provider)');
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
    if (problems.length) {
      for (const problem of problems) say(`FAILED: ${problem}`);
      await audit(services);
      return 1;
    }
    await database.drop();
    database = undefined;
    return await audit(services);
  } finally {
    await cleanup();
  }
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
