/**
 * Where a Node process's slow answers go, seen from inside it: loaded into a `latch web` of the
 * benchmark with `--import` (never into a deployment) when BENCH_LOOP_PROBE_DIR is set. It records
 *
 * - stalls of the main thread: a timer due every TICK_MS that fired more than STALL_MS late, and
 *   for each, from the thread's own /proc/self/task/<tid>/schedstat, how long the thread ran in it
 *   (JavaScript, or V8's collector on the main thread) and how long it was runnable but waiting
 *   for a core (the kernel's run queue: the machine was busy);
 * - V8's collections (PerformanceObserver 'gc'): pauses by kind, and which stalls they fall in;
 * - each HTTP request's time inside the process, from Node's `http.server.request.start` to
 *   `http.server.response.finish` diagnostics channels: what the load generator sees beyond it
 *   was spent before Node read the request (or after it wrote the answer).
 *
 * On SIGUSR2 it writes what it saw since the last SIGUSR2 to `<dir>/<pid>-<n>.json` (through a
 * temporary name, so a reader never sees half of it) and starts over. Plain Node (type stripping):
 * nothing here may need tsx or a compiler.
 */
import { subscribe } from 'node:diagnostics_channel';
import { readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PerformanceObserver, performance, type PerformanceEntry } from 'node:perf_hooks';

/** How often the stall timer is due, and how late it must be to count as a stall (ms). */
const TICK_MS = 4;
const STALL_MS = 5;

export interface ProbeStall {
  /** performance.now() when the timer was due, and how late it fired. */
  at: number;
  lateMs: number;
  /** Of the interval since the timer before: the main thread on a core, and runnable off one. */
  ranMs: number;
  waitedMs: number;
}

export interface ProbeGc {
  at: number;
  ms: number;
  /** V8's kind: minor (scavenge), major (mark-compact), incremental, weakcb. */
  kind: string;
}

export interface ProbeSnapshot {
  pid: number;
  /** Wall time covered, and the main thread's time on a core and runnable off one over it. */
  wallMs: number;
  ranMs: number;
  waitedMs: number;
  stalls: ProbeStall[];
  gcs: ProbeGc[];
  /** Each HTTP request's time in the process, request start to response finish, ms. */
  requestMs: number[];
  /** CPU of the process's threads over the snapshot by thread name (V8's helpers, libuv's pool), ms. */
  threadCpuMs: Record<string, number>;
}

const GC_KINDS: Record<number, string> = { 1: 'minor', 2: 'major', 4: 'incremental', 8: 'weakcb', 16: 'minor' };

/** The thread's time on a core and waiting on the run queue so far, ns (schedstat's first two fields). */
export function threadSchedstat(path: string): { ranNs: number; waitedNs: number } {
  try {
    const [ran, waited] = readFileSync(path, 'utf8').trim().split(/\s+/).map(Number);
    return { ranNs: ran ?? Number.NaN, waitedNs: waited ?? Number.NaN };
  } catch {
    return { ranNs: Number.NaN, waitedNs: Number.NaN };
  }
}

/** CPU time so far of each of this process's threads, by name (threads of one name summed), ms. */
export function threadCpu(): Record<string, number> {
  const cpu: Record<string, number> = {};
  let tids: string[] = [];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return cpu;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const name = tid === String(process.pid) ? 'main' : stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // utime and stime, in clock ticks of 10 ms.
      cpu[name] = (cpu[name] ?? 0) + (Number(fields[11]) + Number(fields[12])) * 10;
    } catch {
      // A thread that ended meanwhile.
    }
  }
  return cpu;
}

export function startProbe(dir: string): void {
  const schedstat = `/proc/self/task/${process.pid}/schedstat`;
  let stalls: ProbeStall[] = [];
  let gcs: ProbeGc[] = [];
  let requestMs: number[] = [];
  let since = performance.now();
  let sinceSched = threadSchedstat(schedstat);
  let sinceThreads = threadCpu();
  let written = 0;

  let due = performance.now() + TICK_MS;
  let lastSched = sinceSched;
  const tick = () => {
    const now = performance.now();
    const sched = threadSchedstat(schedstat);
    const lateMs = now - due;
    if (lateMs > STALL_MS) {
      stalls.push({ at: due, lateMs, ranMs: (sched.ranNs - lastSched.ranNs) / 1e6, waitedMs: (sched.waitedNs - lastSched.waitedNs) / 1e6 });
    }
    lastSched = sched;
    due = now + TICK_MS;
    setTimeout(tick, TICK_MS).unref();
  };
  setTimeout(tick, TICK_MS).unref();

  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind ?? 0;
      gcs.push({ at: entry.startTime, ms: entry.duration, kind: GC_KINDS[kind] ?? String(kind) });
    }
  }).observe({ entryTypes: ['gc'] });

  const started = new WeakMap<object, number>();
  subscribe('http.server.request.start', (message) => started.set((message as { response: object }).response, performance.now()));
  subscribe('http.server.response.finish', (message) => {
    const at = started.get((message as { response: object }).response);
    if (at !== undefined) requestMs.push(performance.now() - at);
  });

  process.on('SIGUSR2', () => {
    const now = performance.now();
    const sched = threadSchedstat(schedstat);
    const threads = threadCpu();
    const snapshot: ProbeSnapshot = {
      pid: process.pid,
      wallMs: now - since,
      ranMs: (sched.ranNs - sinceSched.ranNs) / 1e6,
      waitedMs: (sched.waitedNs - sinceSched.waitedNs) / 1e6,
      stalls,
      gcs,
      requestMs,
      threadCpuMs: Object.fromEntries(Object.entries(threads).map(([name, ms]) => [name, ms - (sinceThreads[name] ?? 0)])),
    };
    written += 1;
    const file = join(dir, `${process.pid}-${written}.json`);
    writeFileSync(`${file}.tmp`, JSON.stringify(snapshot));
    renameSync(`${file}.tmp`, file);
    stalls = [];
    gcs = [];
    requestMs = [];
    since = now;
    sinceSched = sched;
    sinceThreads = threads;
  });
}

if (process.env.BENCH_LOOP_PROBE_DIR) startProbe(process.env.BENCH_LOOP_PROBE_DIR);
