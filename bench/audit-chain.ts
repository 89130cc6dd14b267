/**
 * The audit trail at scale: `latch audit export` and `latch audit verify` over a chain of a
 * million events, each run as the child process an operator would run, beside the raw SHA-256
 * rate of this machine measured in the same run.
 *
 * The chain is built fast but valid: its events look like Latch's own (a request's created,
 * approval, approved, granted, revoked), in the hash format Latch writes today
 * (CURRENT_AUDIT_HASH_FORMAT), their hashes computed with the product's auditHash here in Node
 * (which also checks, a million times, that Node's rendering of format 2 is PostgreSQL's), and
 * they are bulk-inserted with INSERT … SELECT FROM unnest in batches, straight
 * into the migrated schema (its indexes and append-only triggers included). The chain is built to
 * the small size first and measured, then extended to the full size and measured again, so the
 * export's peak memory can be compared across a tenfold difference in events.
 *
 * Peak memory of a child is its VmHWM (the kernel's high-water mark of its resident set), read
 * from /proc/<pid>/status every 20 ms until it exits: a peak between two samples still counts,
 * since the mark only rises.
 */
import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { auditHash, auditHashInputV2, CURRENT_AUDIT_HASH_FORMAT, GENESIS_HASH, sha256Hex, type AuditContent } from '../src/domain/audit-hash.ts';
import { createLogger } from '../src/logging/logger.ts';
import { migrateDatabase } from '../src/store/migrate.ts';
import { cpuSecondsOf } from './child-processes.ts';
import type { BenchDatabase } from './services.ts';

const LATCH_BIN = fileURLToPath(new URL('../bin/latch.js', import.meta.url));
const INSERT_BATCH = 10_000;
/** Events of one request's story, in the order Latch writes them. */
const STORY = ['request.created', 'approval.recorded', 'request.approved', 'grant.granted', 'grant.revoked'] as const;
const SPAN_MS = 30 * 24 * 3600 * 1000;
const POLICY_VERSION = createHash('sha256').update('bench policy').digest('hex');

export interface AuditBenchOptions {
  /** An empty database of the benchmark's own (the caller drops it). */
  database: BenchDatabase;
  /** The full chain. */
  events: number;
  /** The smaller chain measured first (for memory that must not grow with the chain). */
  smallEvents: number;
  say(line: string): void;
  /** Told the verify rate and the raw SHA-256 rate beside it (for the summary of targets). */
  figures?(figures: { verifyPerSecond: number; rawSha256PerSecond: number }): void;
  /** Where `latch audit verify` writes a CPU profile (node --cpu-prof), when set. */
  cpuProfileDir?: string | undefined;
}

interface ChildRun {
  command: string;
  events: number;
  wallMs: number;
  peakRssMiB: number;
  /** CPU time (user + system) of the child, sampled with its memory (so up to 20 ms short). */
  cpuSeconds: number;
  stdout: string;
  stderr: string;
  code: number | null;
}

const fmt = (value: number, digits = 0) => (Number.isFinite(value) ? value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : 'n/a');

/** Runs the benchmark; false when a check failed (an export or verify that did not do its job). */
export async function runAuditChainBenchmark(options: AuditBenchOptions): Promise<boolean> {
  const { say, database } = options;
  const problems: string[] = [];
  const builder = new ChainBuilder(database.url, options.events);
  try {
    await migrateDatabase({ databaseUrl: database.url, logger: createLogger({ level: 'silent' }) });
    say(`database ${database.name} created and migrated`);
    const results: Array<{ size: number; runs: ChildRun[] }> = [];
    const start = await runLatch('audit export (no events)', ['audit', 'export', '--until', '1970-01-02'], database.url, 0);
    for (const size of [...new Set([options.smallEvents, options.events])].sort((a, b) => a - b)) {
      const buildStart = performance.now();
      const before = builder.length;
      await builder.extendTo(size);
      const buildMs = performance.now() - buildStart;
      say(`chain built to ${fmt(size)} events: ${fmt(size - before)} hashed with auditHash and inserted in ${fmt(buildMs / 1000, 1)} s (${fmt(((size - before) / buildMs) * 1000)} events/s)`);
      const runs = [
        await runLatch('audit export --format jsonl', ['audit', 'export', '--format', 'jsonl'], database.url, size),
        await runLatch('audit export --format csv', ['audit', 'export', '--format', 'csv'], database.url, size),
        // The chain's hashing is what is measured; the synthetic chain has no state rows to match.
        await runLatch('audit verify', ['audit', 'verify', '--chain-only'], database.url, size, options.cpuProfileDir),
      ];
      for (const run of runs) {
        say(`  ${line(run, start)}`);
        const problem = check(run);
        if (problem) problems.push(problem);
      }
      results.push({ size, runs });
    }
    const hashed = builder.sampleHashed;
    const contents = builder.sampleContents;

    say('');
    say(`process start-up, for scale (\`latch audit export\` of a period with no events): ${fmt(start.wallMs / 1000, 2)} s, peak RSS ${fmt(start.peakRssMiB)} MiB`);
    const raw = rate(() => {
      for (const text of hashed) createHash('sha256').update(text).digest('hex');
      return hashed.length;
    });
    const oneShot = rate(() => {
      for (const text of hashed) sha256Hex(text);
      return hashed.length;
    });
    const averageBytes = hashed.reduce((sum, text) => sum + Buffer.byteLength(text), 0) / hashed.length;
    const inNode = rate(() => {
      for (const content of contents) auditHash(content);
      return contents.length;
    });
    const format1 = rate(() => {
      for (const content of contents) auditHash({ ...content, hashFormat: 1 });
      return contents.length;
    });
    say(`raw SHA-256 (node:crypto createHash, in this process, the very text each event's hash covers, ${fmt(averageBytes)} bytes on average): ${fmt(raw)} hashes/s`);
    say(`  (the one-shot crypto.hash that verify uses: ${fmt(oneShot)} hashes/s)`);
    say(`auditHash in Node of the same events: format ${CURRENT_AUDIT_HASH_FORMAT} (rendered in Node, then SHA-256) ${fmt(inNode)} events/s; format 1 (RFC 8785 canonical JSON, then SHA-256) ${fmt(format1)} events/s`);

    const largest = results.at(-1)!;
    const smallest = results[0]!;
    const verify = largest.runs.find((run) => run.command === 'audit verify')!;
    const verifyRate = perSecond(verify.events, verify.wallMs);
    options.figures?.({ verifyPerSecond: verifyRate, rawSha256PerSecond: raw });
    say('');
    const verifyAfterStartup = perSecond(verify.events, verify.wallMs - start.wallMs);
    say(
      `latch audit verify over ${fmt(largest.size)} events: ${fmt(verifyRate)} events/s, beside raw SHA-256 ${fmt(raw)} hashes/s: ` +
        `ratio ${fmt(verifyRate / raw, 3)} (verify ÷ raw SHA-256, target at least 0.5; ${fmt(verifyAfterStartup / raw, 3)} counting from after the process's start-up)`,
    );
    // CPU is less sensitive to a busy machine than wall time: the same comparison in CPU per event.
    const verifyCpuRate = 1e6 / cpuMicrosPerEvent(verify, start);
    say(`latch audit verify in CPU: ${fmt(cpuMicrosPerEvent(verify, start), 2)} µs an event beyond start-up, i.e. ${fmt(verifyCpuRate)} events per CPU-second: ratio ${fmt(verifyCpuRate / raw, 3)} to raw SHA-256`);
    for (const format of ['jsonl', 'csv']) {
      const command = `audit export --format ${format}`;
      const small = smallest.runs.find((run) => run.command === command)!;
      const large = largest.runs.find((run) => run.command === command)!;
      say(
        `latch ${command}: peak RSS ${fmt(small.peakRssMiB)} MiB at ${fmt(smallest.size)} events, ${fmt(large.peakRssMiB)} MiB at ${fmt(largest.size)} events ` +
          `(×${fmt(large.peakRssMiB / small.peakRssMiB, 2)} for ×${fmt(largest.size / smallest.size, 0)} the events); ${fmt(perSecond(large.events, large.wallMs))} events/s at ${fmt(largest.size)}`,
      );
      // Bounded: a tenfold chain may cost some noise, never memory in proportion to it.
      if (largest.size >= 5 * smallest.size && large.peakRssMiB > small.peakRssMiB * 1.5 + 32) problems.push(`export --format ${format} grew from ${fmt(small.peakRssMiB)} to ${fmt(large.peakRssMiB)} MiB with the chain`);
    }
  } finally {
    await builder.close();
  }
  for (const problem of problems) say(`FAILED: ${problem}`);
  return problems.length === 0;
}

function line(run: ChildRun, start: ChildRun): string {
  const afterStartup = perSecond(run.events, run.wallMs - start.wallMs);
  return (
    `latch ${run.command.padEnd(26)} ${fmt(run.events).padStart(9)} events in ${fmt(run.wallMs / 1000, 1).padStart(5)} s: ` +
    `${fmt(perSecond(run.events, run.wallMs)).padStart(7)} events/s (${fmt(afterStartup)} after start-up), peak RSS ${fmt(run.peakRssMiB)} MiB, ` +
    `CPU ${fmt(run.cpuSeconds, 2)} s (${fmt(cpuMicrosPerEvent(run, start), 2)} µs an event beyond start-up's)`
  );
}

/** CPU per event of a run, less the CPU of a start-up alone (an export of nothing). */
const cpuMicrosPerEvent = (run: ChildRun, start: ChildRun) => ((run.cpuSeconds - start.cpuSeconds) / run.events) * 1e6;

function check(run: ChildRun): string | null {
  if (run.code !== 0) return `latch ${run.command} exited ${run.code}: ${run.stderr.trim()}`;
  if (run.command.startsWith('audit export') && !run.stderr.includes(`exported ${run.events} audit event(s)`)) return `latch ${run.command} did not export ${run.events} events: ${run.stderr.trim()}`;
  if (run.command === 'audit verify' && !run.stdout.includes(`audit chain intact: ${run.events} events verified`)) return `latch audit verify did not verify ${run.events} events: ${run.stdout.trim()} ${run.stderr.trim()}`;
  return null;
}

const perSecond = (events: number, ms: number) => (ms > 0 ? (events / ms) * 1000 : Number.NaN);

/** Repeats `work` (which returns how many it did) for at least two seconds; per second. */
function rate(work: () => number): number {
  let done = 0;
  const start = performance.now();
  while (performance.now() - start < 2_000) done += work();
  return (done / (performance.now() - start)) * 1000;
}

/** `latch <args>` as a child process, stdout to /dev/null for exports, peak memory sampled. */
async function runLatch(command: string, args: string[], databaseUrl: string, events: number, cpuProfileDir?: string): Promise<ChildRun> {
  const exporting = args[1] === 'export';
  const devNull = exporting ? openSync('/dev/null', 'w') : null;
  const started = performance.now();
  const child = spawn(process.execPath, [LATCH_BIN, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: databaseUrl, ...(cpuProfileDir ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${cpuProfileDir}` } : {}) },
    stdio: ['ignore', devNull ?? 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk) => (stdout += chunk));
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  let peakKiB = 0;
  let cpuSeconds = 0;
  const sample = () => {
    try {
      const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (match) peakKiB = Math.max(peakKiB, Number(match[1]));
      const cpu = cpuSecondsOf(child.pid);
      if (Number.isFinite(cpu)) cpuSeconds = Math.max(cpuSeconds, cpu);
    } catch {
      // Gone already: the last sample stands.
    }
  };
  const sampler = setInterval(sample, 20);
  const code = await new Promise<number | null>((resolve) => child.on('exit', (exitCode) => resolve(exitCode)));
  const wallMs = performance.now() - started;
  clearInterval(sampler);
  if (devNull !== null) closeSync(devNull);
  await new Promise((resolve) => setImmediate(resolve));
  return { command, events, wallMs, peakRssMiB: peakKiB / 1024, cpuSeconds, stdout, stderr, code };
}

/**
 * A valid chain, appended to in batches: each batch's requests first (events name a request, and
 * the foreign key wants it to exist), then its events, hashed in order. Keeps a sample of the
 * text and content it hashed, for the raw SHA-256 comparison.
 */
class ChainBuilder {
  length = 0;
  readonly sampleHashed: string[] = [];
  readonly sampleContents: AuditContent[] = [];
  private prevHash = GENESIS_HASH;
  private readonly pool: pg.Pool;
  private readonly startMs = Date.now() - SPAN_MS;
  private request: { id: string; grantId: string; principal: string; requester: string } | null = null;

  /** `finalTotal`: the size the chain will reach, over which its times are spread. */
  constructor(
    databaseUrl: string,
    private readonly finalTotal: number,
  ) {
    this.pool = new pg.Pool({ connectionString: databaseUrl, max: 2, application_name: 'latch-bench-audit' });
  }

  async extendTo(total: number): Promise<void> {
    const inFlight: Array<Promise<unknown>> = [];
    while (this.length < total) {
      // Batches end where a request's story ends, so no event waits for a request another
      // transaction in flight is still inserting.
      let count = Math.min(INSERT_BATCH, total - this.length);
      if (this.length + count < total) count -= (this.length + count) % STORY.length;
      const batch = this.nextBatch(count);
      // Hash the next batch while the last one is written: two inserts in flight at most.
      if (inFlight.length >= 2) await inFlight.shift();
      inFlight.push(this.insert(batch));
    }
    await Promise.all(inFlight);
    const client = await this.pool.connect();
    try {
      await client.query('VACUUM (ANALYZE) audit_events');
      await client.query('VACUUM (ANALYZE) access_requests');
    } finally {
      client.release();
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  private nextBatch(count: number) {
    const requests: Array<{ id: string; requester: string; principal: string; at: Date }> = [];
    const events: Array<AuditContent & { hash: string }> = [];
    for (let i = 0; i < count; i++) {
      const seq = this.length + 1;
      const step = STORY[(seq - 1) % STORY.length]!;
      const at = new Date(this.startMs + Math.floor(((seq - 1) / Math.max(this.finalTotal, 1)) * SPAN_MS));
      if (step === 'request.created' || !this.request) {
        const person = (seq * 7919) % 500;
        this.request = { id: randomUUID(), grantId: randomUUID(), principal: `user${person}`, requester: `U0BENCH${String(person).padStart(4, '0')}` };
        requests.push({ id: this.request.id, requester: this.request.requester, principal: this.request.principal, at });
      }
      const content: AuditContent = { seq: BigInt(seq), at, ...this.eventOf(step, at), requestId: this.request.id, prevHash: this.prevHash, hashFormat: CURRENT_AUDIT_HASH_FORMAT };
      const hash = auditHash(content);
      if (seq % 10 === 0 && this.sampleContents.length < 20_000) {
        this.sampleContents.push(content);
        this.sampleHashed.push(auditHashInputV2(content));
      }
      events.push({ ...content, hash });
      this.prevHash = hash;
      this.length = seq;
    }
    return { requests, events };
  }

  private eventOf(step: (typeof STORY)[number], at: Date): { actor: string; action: string; data: unknown } {
    const request = this.request!;
    const expiresAt = new Date(at.getTime() + 3600_000).toISOString();
    switch (step) {
      case 'request.created':
        return {
          actor: request.requester,
          action: step,
          data: {
            resourceId: 'prod-db', role: 'read', principal: request.principal, durationSeconds: 3600, reason: 'Investigating slow queries reported by support',
            ticket: 'INC-4821', startsAt: null, requiredApprovals: 2, requiredGroups: ['S0DBAS'], policyVersion: POLICY_VERSION,
          },
        };
      case 'approval.recorded':
        return { actor: 'U0DBAS01', action: step, data: { decision: 'approve', comment: null, revision: 1, groups: ['S0DBAS'] } };
      case 'request.approved':
        return { actor: 'U0DBALEAD1', action: step, data: { approvers: ['U0DBAS01', 'U0DBALEAD1'] } };
      case 'grant.granted':
        return { actor: 'latch', action: step, data: { grantId: request.grantId, provider: 'postgres', principal: request.principal, expiresAt, attempt: 1, endedMeanwhile: false } };
      case 'grant.revoked':
        return { actor: 'latch', action: step, data: { grantId: request.grantId, reason: 'expired', providerCalled: true, coveredBy: [], dueAt: at.toISOString(), lateBySeconds: 0 } };
    }
  }

  private async insert({ requests, events }: ReturnType<ChainBuilder['nextBatch']>): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      if (requests.length > 0) {
        await client.query(
          `INSERT INTO access_requests (id, requester_slack_id, resource_id, role, principal, duration_seconds, reason, state, created_at, updated_at)
           SELECT id, requester, 'prod-db', 'read', principal, 3600, 'Investigating slow queries reported by support', 'revoked', at, at
           FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[]) AS r(id, requester, principal, at)`,
          [requests.map((r) => r.id), requests.map((r) => r.requester), requests.map((r) => r.principal), requests.map((r) => r.at.toISOString())],
        );
      }
      await client.query(
        `INSERT INTO audit_events (seq, at, actor, action, request_id, data, prev_hash, hash, hash_format)
         SELECT *, ${CURRENT_AUDIT_HASH_FORMAT} FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::uuid[], $6::jsonb[], $7::text[], $8::text[])`,
        [
          events.map((e) => e.seq.toString()),
          events.map((e) => e.at.toISOString()),
          events.map((e) => e.actor),
          events.map((e) => e.action),
          events.map((e) => e.requestId),
          events.map((e) => JSON.stringify(e.data)),
          events.map((e) => e.prevHash),
          events.map((e) => e.hash),
        ],
      );
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }
}
