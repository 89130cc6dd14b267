import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ProbeSnapshot } from './event-loop-probe.ts';
import { percentiles, type Percentiles } from './revocation-lateness.ts';

/**
 * What the event-loop probe (bench/event-loop-probe.ts) saw in one phase, reduced to where a slow
 * answer's time went: the main thread blocked running (JavaScript or a collection on it) or
 * runnable and waiting for a core the machine did not give it.
 */
export interface LoopSummary {
  wallS: number;
  /** The main thread's share of a core, and its run-queue wait per second of the phase (ms). */
  ranCoreShare: number;
  waitedMsPerS: number;
  /** Stalls (the probe's timer late by more than its threshold): how many, how late, and split. */
  stalls: {
    count: number;
    lateMs: Percentiles;
    /** Sum of lateness, and of it: the thread on a core, waiting for one, and V8's collections. */
    totalLateMs: number;
    ranMs: number;
    waitedMs: number;
    gcMs: number;
  };
  /** V8's collections: pauses by kind (minor: scavenges; major: mark-compact). */
  gc: Record<string, { count: number; totalMs: number; p99Ms: number; maxMs: number }>;
  /** Each HTTP request's time inside the process, from Node reading it to the answer written. */
  requestMs: Percentiles;
  /** CPU of the process's threads other than the main one, by name, as a share of one core. */
  helperThreads: Record<string, number>;
}

export function summarizeProbe(snapshot: ProbeSnapshot): LoopSummary {
  const wallS = snapshot.wallMs / 1000;
  let totalLateMs = 0;
  let ranMs = 0;
  let waitedMs = 0;
  let gcMs = 0;
  for (const stall of snapshot.stalls) {
    totalLateMs += stall.lateMs;
    // The schedstat interval runs from the tick before, so it can hold more than the stall: its
    // running and waiting are scaled down together to the stall's length.
    const scale = Math.min(1, stall.lateMs / Math.max(stall.ranMs + stall.waitedMs, Number.MIN_VALUE));
    ranMs += stall.ranMs * scale;
    waitedMs += stall.waitedMs * scale;
    gcMs += overlapMs(stall.at, stall.at + stall.lateMs, snapshot.gcs);
  }
  const gc: LoopSummary['gc'] = {};
  const byKind = new Map<string, number[]>();
  for (const entry of snapshot.gcs) byKind.set(entry.kind, [...(byKind.get(entry.kind) ?? []), entry.ms]);
  for (const [kind, pauses] of byKind) {
    const p = percentiles(pauses);
    gc[kind] = { count: p.count, totalMs: pauses.reduce((sum, ms) => sum + ms, 0), p99Ms: p.p99, maxMs: p.max };
  }
  return {
    wallS,
    ranCoreShare: snapshot.ranMs / snapshot.wallMs,
    waitedMsPerS: snapshot.waitedMs / wallS,
    stalls: { count: snapshot.stalls.length, lateMs: percentiles(snapshot.stalls.map((stall) => stall.lateMs)), totalLateMs, ranMs, waitedMs, gcMs },
    gc,
    requestMs: percentiles(snapshot.requestMs),
    helperThreads: Object.fromEntries(
      Object.entries(snapshot.threadCpuMs)
        .filter(([name, ms]) => name !== 'main' && ms > 0)
        .map(([name, ms]) => [name, ms / snapshot.wallMs]),
    ),
  };
}

/** How much of [from, to] the collections cover (they do not overlap one another on the main thread). */
function overlapMs(from: number, to: number, gcs: ProbeSnapshot['gcs']): number {
  let sum = 0;
  for (const entry of gcs) sum += Math.max(0, Math.min(to, entry.at + entry.ms) - Math.max(from, entry.at));
  return sum;
}

/** Two lines for the ack section's output. */
export function loopSummaryLines(summary: LoopSummary): string[] {
  const ms = (value: number) => `${value.toFixed(1)} ms`;
  const gcKinds = Object.entries(summary.gc)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([kind, g]) => `${kind} ${g.count} (${ms(g.totalMs)} in all, p99 ${ms(g.p99Ms)}, max ${ms(g.maxMs)})`)
    .join(', ');
  const { stalls } = summary;
  const helpers = Object.entries(summary.helperThreads)
    .sort(([, a], [, b]) => b - a)
    .map(([name, share]) => `${name} ${(share * 100).toFixed(1)}%`)
    .join(', ');
  return [
    `in the process: request p50 ${ms(summary.requestMs.p50)}, p99 ${ms(summary.requestMs.p99)}, max ${ms(summary.requestMs.max)}; main thread on a core ${(summary.ranCoreShare * 100).toFixed(0)}%, waiting for one ${ms(summary.waitedMsPerS)} a second; its other threads ${helpers || 'idle'} of a core; collections: ${gcKinds || 'none'}`,
    `event-loop stalls over 5 ms: ${stalls.count} (p50 ${ms(stalls.lateMs.p50)}, p99 ${ms(stalls.lateMs.p99)}, max ${ms(stalls.lateMs.max)}; ${ms(stalls.totalLateMs)} in all: running ${ms(stalls.ranMs)}, waiting for a core ${ms(stalls.waitedMs)}; V8's collections overlapping them ${ms(stalls.gcMs)})`,
  ];
}

/**
 * The benchmark's side of the probe: the NODE_OPTIONS and environment that load it into a process,
 * and `take(pid)`, which asks that process for what it saw since the last `take` and waits for it.
 */
export class LoopProbe {
  private readonly taken = new Map<number, number>();

  constructor(readonly dir: string) {}

  /** For a child's environment: NODE_OPTIONS gets `--import` of the probe (after `nodeOptions`). */
  env(nodeOptions = ''): Record<string, string> {
    const probe = fileURLToPath(new URL('./event-loop-probe.ts', import.meta.url));
    return { NODE_OPTIONS: [nodeOptions, `--import=${pathToFileURL(probe).href}`].filter(Boolean).join(' '), BENCH_LOOP_PROBE_DIR: this.dir };
  }

  async take(pid: number, timeoutMs = 10_000): Promise<ProbeSnapshot> {
    const n = (this.taken.get(pid) ?? 0) + 1;
    this.taken.set(pid, n);
    process.kill(pid, 'SIGUSR2');
    const file = join(this.dir, `${pid}-${n}.json`);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as ProbeSnapshot;
      if (Date.now() > deadline) throw new Error(`process ${pid} wrote no probe snapshot within ${timeoutMs} ms (is the probe loaded?)`);
      await sleep(20);
    }
  }
}
