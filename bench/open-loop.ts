import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { percentiles, type Percentiles } from './revocation-lateness.ts';

/**
 * An open-loop load generator: request i is due at start + i / rate whatever happened to the
 * ones before, and its latency counts from when it was due, not from when it went out. A server
 * that stalls therefore shows its stall in every request that should have been sent meanwhile
 * (no coordinated omission, as wrk2 measures). Requests during the warm-up are sent but not
 * counted.
 */
export interface OpenLoopOptions {
  rate: number;
  warmupMs: number;
  durationMs: number;
  /** Sends request i (its body is the caller's); resolves with the HTTP status once answered. */
  send(i: number): Promise<number>;
}

export interface OpenLoopResult {
  latencyMs: Percentiles;
  /** Requests counted (after the warm-up), and those answered with another status than 200 or not at all. */
  sent: number;
  failed: number;
  statuses: Record<string, number>;
  /** Counted requests answered per second, over the counted period until the last answer. */
  achievedRate: number;
  /** How late the generator itself sent its requests (its own event loop's lag), p99 and max. */
  sendLagMs: { p99: number; max: number };
  total: number;
}

export async function runOpenLoop({ rate, warmupMs, durationMs, send }: OpenLoopOptions): Promise<OpenLoopResult> {
  const intervalMs = 1000 / rate;
  const total = Math.round(((warmupMs + durationMs) / 1000) * rate);
  const warmup = Math.round((warmupMs / 1000) * rate);
  const latencies: number[] = [];
  const lags: number[] = [];
  const statuses: Record<string, number> = {};
  let failed = 0;
  let lastAnswer = 0;
  const inFlight: Array<Promise<void>> = [];
  const start = performance.now() + 20;
  for (let i = 0; i < total; i++) {
    const due = start + i * intervalMs;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    const counted = i >= warmup;
    if (counted) lags.push(Math.max(0, performance.now() - due));
    inFlight.push(
      send(i).then(
        (status) => {
          const answered = performance.now();
          if (!counted) return;
          latencies.push(answered - due);
          lastAnswer = Math.max(lastAnswer, answered);
          statuses[status] = (statuses[status] ?? 0) + 1;
          if (status !== 200) failed++;
        },
        (error: unknown) => {
          if (!counted) return;
          failed++;
          const key = `error: ${(error as Error).message}`;
          statuses[key] = (statuses[key] ?? 0) + 1;
        },
      ),
    );
  }
  await Promise.all(inFlight);
  const countedFrom = start + warmup * intervalMs;
  const lag = percentiles(lags);
  return {
    latencyMs: percentiles(latencies),
    sent: total - warmup,
    failed,
    statuses,
    achievedRate: latencies.length / Math.max(0.001, (lastAnswer - countedFrom) / 1000),
    sendLagMs: { p99: lag.p99, max: lag.max },
    total,
  };
}

/** A fetch Response's status, its body read so the connection is free for the next request. */
export async function statusOf(response: Promise<Response>): Promise<number> {
  const answered = await response;
  await answered.arrayBuffer();
  return answered.status;
}
