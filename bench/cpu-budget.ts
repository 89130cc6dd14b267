import pg from 'pg';
import { cpuSecondsOf } from './child-processes.ts';

/**
 * Where the CPU of a benchmark section goes, process by process, read from /proc: each named
 * process (latch web, latch worker, redis-server, the fake Slack, …), the bench driver itself
 * (process.cpuUsage, which also counts what it serves in-process, such as the webhook receiver),
 * and every PostgreSQL backend connected to the section's database, summed. Beside it, what the
 * backends were waiting for, sampled from pg_stat_activity: on a machine of two cores the sum says
 * how many operations a second the whole stack could do at most, and the waits say whether a lock
 * rather than the CPU is the limit.
 *
 * Backends come and go with the pools (pg.Pool closes idle connections): the sampler lists them at
 * every sample and keeps each one's last reading, so a backend that exits during the window still
 * counts up to its last sample, and one that appears counts from zero.
 */
export interface BudgetEntry {
  name: string;
  cpuSeconds: number;
}

export interface CpuBudget {
  seconds: number;
  entries: BudgetEntry[];
  /** PostgreSQL's own processes (WAL writer, checkpointer, …): the whole server's, shared with anything else using it. */
  postgresServerSeconds: number;
  /** pg_stat_activity samples of the database's backends other than the sampler's own: how many were in each state (by application_name). */
  waits: Record<string, number>;
  samples: number;
  /** Redis commands run during the window, by command (EVALSHA counts BullMQ's scripts). */
  redisCommands: Record<string, number>;
  /** Transactions committed and rolled back in the database during the window (pg_stat_database). */
  transactions: number;
  /** Transactions that appended to the audit chain during the window (each took its lock once). */
  chainAppends: number;
  /** Samples in which some backend held the audit chain's lock. */
  chainHeldSamples: number;
}

export interface BudgetOptions {
  /** Processes to account for, by name. */
  processes: Record<string, number | undefined>;
  /** The section's own Redis (its commands are counted, by command, from INFO commandstats). */
  redis?: { info(section: 'commandstats'): Promise<string> };
  /** The section's database (its backends are summed) on a superuser connection. */
  databaseUrl: string;
  sampleEveryMs?: number;
}

export class CpuBudgetSampler {
  private readonly probe: pg.Client;
  private readonly startCpu = new Map<string, number>();
  private readonly backendFirst = new Map<number, number>();
  private readonly backendLast = new Map<number, number>();
  private serverFirst = new Map<number, number>();
  private readonly serverLast = new Map<number, number>();
  private readonly waits: Record<string, number> = {};
  private samples = 0;
  private timer: NodeJS.Timeout | undefined;
  private sampling: Promise<void> = Promise.resolve();
  private startedAt = 0;
  private driverStart: NodeJS.CpuUsage = process.cpuUsage();
  private redisStart: Record<string, number> = {};
  private transactionsStart = 0;
  private chainHeadStart = 0;
  private chainHeldSamples = 0;

  constructor(private readonly options: BudgetOptions) {
    this.probe = new pg.Client({ connectionString: options.databaseUrl, application_name: 'latch-bench-budget' });
    this.probe.on('error', () => undefined);
  }

  async start(): Promise<void> {
    await this.probe.connect();
    this.redisStart = await this.redisCommands();
    this.transactionsStart = await this.transactions();
    this.chainHeadStart = Number((await this.probe.query<{ seq: string | null }>('SELECT max(seq) AS seq FROM audit_events')).rows[0]!.seq ?? 0);
    // The backends connected now count from their current CPU; later ones from zero.
    const { backends, server } = await this.listBackends();
    for (const pid of backends) this.backendFirst.set(pid, cpuSecondsOf(pid));
    this.serverFirst = new Map(server.map((pid) => [pid, cpuSecondsOf(pid)]));
    for (const [name, pid] of Object.entries(this.options.processes)) this.startCpu.set(name, cpuSecondsOf(pid));
    this.driverStart = process.cpuUsage();
    this.startedAt = Date.now();
    this.timer = setInterval(() => {
      this.sampling = this.sampling.then(() => this.sample()).catch(() => undefined);
    }, this.options.sampleEveryMs ?? 100);
  }

  async stop(): Promise<CpuBudget> {
    clearInterval(this.timer);
    await this.sampling;
    await this.sample();
    const seconds = (Date.now() - this.startedAt) / 1000;
    const driver = process.cpuUsage(this.driverStart);
    const entries: BudgetEntry[] = Object.entries(this.options.processes).map(([name, pid]) => ({ name, cpuSeconds: cpuSecondsOf(pid) - (this.startCpu.get(name) ?? Number.NaN) }));
    let backends = 0;
    for (const [pid, last] of this.backendLast) backends += last - (this.backendFirst.get(pid) ?? 0);
    entries.push({ name: `postgres backends of the database (${this.backendLast.size})`, cpuSeconds: backends });
    entries.push({ name: 'bench driver (signing, HTTP, webhook receiver, this sampler)', cpuSeconds: (driver.user + driver.system) / 1e6 });
    let postgresServerSeconds = 0;
    for (const [pid, last] of this.serverLast) postgresServerSeconds += last - (this.serverFirst.get(pid) ?? 0);
    const redisEnd = await this.redisCommands();
    const redisCommands = Object.fromEntries(Object.entries(redisEnd).map(([command, calls]) => [command, calls - (this.redisStart[command] ?? 0)]).filter(([, calls]) => Number(calls) > 0));
    // Minus the sampler's own: one a sample, plus the reads of the counter itself.
    const transactions = (await this.transactions()) - this.transactionsStart - this.samples - 1;
    // Audit events are never updated, so a row's xmin is the transaction that appended it.
    const { rows } = await this.probe.query<{ n: string }>('SELECT count(DISTINCT xmin::text) AS n FROM audit_events WHERE seq > $1', [this.chainHeadStart]);
    const chainAppends = Number(rows[0]!.n);
    await this.probe.end().catch(() => undefined);
    return { seconds, entries, postgresServerSeconds, waits: this.waits, samples: this.samples, redisCommands, transactions, chainAppends, chainHeldSamples: this.chainHeldSamples };
  }

  private async redisCommands(): Promise<Record<string, number>> {
    if (!this.options.redis) return {};
    const info = await this.options.redis.info('commandstats');
    return Object.fromEntries([...info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)].map((match) => [match[1]!, Number(match[2])]));
  }

  private async transactions(): Promise<number> {
    // The statistics of this transaction are a snapshot: clear it so the counter is current.
    await this.probe.query('SELECT pg_stat_clear_snapshot()');
    const { rows } = await this.probe.query<{ n: string }>('SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = current_database()');
    return Number(rows[0]!.n);
  }

  private async listBackends(): Promise<{ backends: number[]; server: number[] }> {
    const { rows } = await this.probe.query<{ pid: number; mine: boolean }>(
      `SELECT pid, datname IS NOT DISTINCT FROM current_database() AS mine FROM pg_stat_activity
        WHERE pid <> pg_backend_pid() AND (datname = current_database() OR backend_type NOT IN ('client backend', 'autovacuum worker', 'parallel worker'))`,
    );
    return { backends: rows.filter((row) => row.mine).map((row) => row.pid), server: rows.filter((row) => !row.mine).map((row) => row.pid) };
  }

  private async sample(): Promise<void> {
    // Which advisory lock a backend waits for or holds: the audit chain's (one bigint key,
    // objsubid 1) or an access lock (two int4 keys, objsubid 2; src/store/access-lock.ts).
    const { rows } = await this.probe.query<{ pid: number; mine: boolean; app: string; state: string | null; wait: string | null; waits_for: string | null; holds_chain: boolean }>(
      `SELECT a.pid, a.application_name AS app, a.datname IS NOT DISTINCT FROM current_database() AS mine, a.state, a.wait_event_type || ':' || a.wait_event AS wait,
              (SELECT CASE WHEN l.objsubid = 1 THEN 'audit chain' ELSE 'access lock' END FROM pg_locks l
                WHERE l.pid = a.pid AND NOT l.granted AND l.locktype = 'advisory' LIMIT 1) AS waits_for,
              EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.granted AND l.locktype = 'advisory' AND l.objsubid = 1) AS holds_chain
         FROM pg_stat_activity a
        WHERE a.pid <> pg_backend_pid() AND (a.datname = current_database() OR a.backend_type NOT IN ('client backend', 'autovacuum worker', 'parallel worker'))`,
    );
    this.samples++;
    if (rows.some((row) => row.mine && row.holds_chain)) this.chainHeldSamples++;
    for (const row of rows) {
      const cpu = cpuSecondsOf(row.pid);
      if (!Number.isFinite(cpu)) continue;
      if (!row.mine) {
        this.serverLast.set(row.pid, cpu);
        continue;
      }
      this.backendLast.set(row.pid, cpu);
      if (row.state === null || row.state === 'idle') continue;
      // "active" with no wait is on the CPU (or about to be); ClientRead in a transaction is waiting for its client.
      const key = `${row.app || '?'} ${row.state}, ${row.waits_for ? `waiting for the ${row.waits_for}` : (row.wait ?? 'on CPU')}${row.holds_chain ? ', holding the audit chain lock' : ''}`;
      this.waits[key] = (this.waits[key] ?? 0) + 1;
    }
  }
}

/** The budget as lines: CPU ms per operation by process, the sum, and the ceilings it implies on `cores` cores. */
export function budgetLines(budget: CpuBudget, operations: number, operation: string, cores: number): string[] {
  const perOp = (seconds: number) => (seconds * 1000) / operations;
  const sorted = [...budget.entries].sort((a, b) => b.cpuSeconds - a.cpuSeconds);
  const total = sorted.reduce((sum, entry) => sum + (Number.isFinite(entry.cpuSeconds) ? entry.cpuSeconds : 0), 0);
  const lines = [`  CPU per ${operation}, by process (${budget.seconds.toFixed(1)} s window, ${operations.toLocaleString('en-US')} ${operation}s):`];
  for (const entry of sorted) {
    const share = entry.cpuSeconds / budget.seconds;
    lines.push(`    ${perOp(entry.cpuSeconds).toFixed(2).padStart(7)} ms  ${(share * 100).toFixed(0).padStart(3)}% of a core  ${entry.name}`);
  }
  const totalMs = perOp(total);
  lines.push(`    ${totalMs.toFixed(2).padStart(7)} ms  ${((total / budget.seconds) * 100).toFixed(0).padStart(3)}% of a core  total`);
  lines.push(`    (PostgreSQL's own processes, shared with everything else on the server: ${perOp(budget.postgresServerSeconds).toFixed(2)} ms per ${operation}, not in the total)`);
  const busiest = sorted[0]!;
  lines.push(
    `  ceiling on ${cores} cores: ${((cores * 1000) / totalMs).toFixed(0)} ${operation}s/s if every process could use any core (${cores} × 1000 / ${totalMs.toFixed(2)} ms); ` +
      `${(1000 / perOp(busiest.cpuSeconds)).toFixed(0)}/s for ${busiest.name} alone on one core`,
  );
  const commands = Object.entries(budget.redisCommands).sort((a, b) => b[1] - a[1]);
  const redisTotal = commands.reduce((sum, [, calls]) => sum + calls, 0);
  if (redisTotal > 0) {
    lines.push(`  Redis commands per ${operation}: ${(redisTotal / operations).toFixed(1)} (${commands.slice(0, 24).map(([command, calls]) => `${command} ${(calls / operations).toFixed(1)}`).join(', ')})`);
  }
  lines.push(`  PostgreSQL transactions per ${operation} (pg_stat_database, the sampler's own left out): ${(budget.transactions / operations).toFixed(1)}`);
  if (budget.chainAppends > 0 && budget.samples > 0) {
    const held = budget.chainHeldSamples / budget.samples;
    lines.push(
      `  audit chain lock: ${budget.chainAppends.toLocaleString('en-US')} appends (${(budget.chainAppends / operations).toFixed(1)} per ${operation}), held in ${(held * 100).toFixed(0)}% of the samples: ` +
        `about ${((held * budget.seconds * 1000) / budget.chainAppends).toFixed(1)} ms each, so at most ${(budget.chainAppends / operations > 0 ? budget.chainAppends / (held * budget.seconds) / (budget.chainAppends / operations) : Number.NaN).toFixed(0)} ${operation}s/s while it is held that long`,
    );
  }
  const waited = Object.entries(budget.waits).sort((a, b) => b[1] - a[1]);
  if (budget.samples > 0) {
    lines.push(`  backends of the database not idle, mean over ${budget.samples} samples of pg_stat_activity: ${waited.filter(([, n]) => n / budget.samples >= 0.01).map(([key, n]) => `${(n / budget.samples).toFixed(2)} ${key}`).join('; ') || 'none'}`);
  }
  return lines;
}
