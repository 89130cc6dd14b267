import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ProbeSnapshot } from '../../../bench/event-loop-probe.ts';
import { LoopProbe, loopSummaryLines, summarizeProbe } from '../../../bench/loop-probe-summary.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/**
 * A plain node process (no tsx: as `latch web` runs) with the probe loaded the way the ack bench
 * loads it, running `script`; says "ready" on stdout once its script has started.
 */
function probedNode(probe: LoopProbe, script: string) {
  const child = spawn(process.execPath, ['-e', script], { env: { PATH: process.env.PATH, ...probe.env() }, stdio: ['ignore', 'pipe', 'inherit'] });
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => chunk.includes('ready') && resolve());
    child.once('exit', (code) => reject(new Error(`the probed process exited (${code}) before it was ready`)));
  });
  return { child, ready };
}

describe('the ack bench’s event-loop probe', () => {
  it('sees a blocked event loop as a stall the main thread spent running, and each HTTP request’s time in the process', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'latch-probe-test-'));
    dirs.push(dir);
    const probe = new LoopProbe(dir);
    // A server whose /block answer spins the event loop for 120 ms before it answers.
    const { child, ready } = probedNode(
      probe,
      `const http = require('node:http');
       const server = http.createServer((req, res) => {
         // Spun on the clock the probe reads (Date.now's whole milliseconds could end it early).
         if (req.url === '/block') { const until = performance.now() + 120; while (performance.now() < until); }
         res.end('ok');
       });
       server.listen(0, '127.0.0.1', () => { process.stdout.write('ready ' + server.address().port + '\\n'); });`,
    );
    let port = 0;
    child.stdout!.on('data', (chunk: string) => (port ||= Number(/ready (\d+)/.exec(chunk)?.[1] ?? 0)));
    try {
      await ready;
      await probe.take(child.pid!); // what start-up did is not the test's
      expect((await fetch(`http://127.0.0.1:${port}/quick`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${port}/block`)).status).toBe(200);
      // Let the probe's timer fire after the block, as it does between the bench's requests.
      await new Promise((resolve) => setTimeout(resolve, 100));
      const summary = summarizeProbe(await probe.take(child.pid!));

      expect(summary.requestMs.count).toBe(2);
      expect(summary.requestMs.max).toBeGreaterThanOrEqual(120);
      expect(summary.requestMs.p50).toBeLessThan(120);
      expect(summary.stalls.lateMs.max).toBeGreaterThanOrEqual(100);
      // The thread was busy through the block: on a core or, on a busy machine, waiting for one.
      expect(summary.stalls.ranMs + summary.stalls.waitedMs).toBeGreaterThanOrEqual(100);
      expect(summary.stalls.ranMs).toBeGreaterThan(0);
      expect(loopSummaryLines(summary).join('\n')).toMatch(/event-loop stalls over 5 ms: [1-9]/);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('counts each take from the one before: a stall is in the take after it and not in the next', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'latch-probe-test-'));
    dirs.push(dir);
    const probe = new LoopProbe(dir);
    const { child, ready } = probedNode(probe, `setInterval(() => {}, 1000); setTimeout(() => { const until = Date.now() + 80; while (Date.now() < until); process.stdout.write('ready\\n'); }, 10);`);
    try {
      await ready;
      await new Promise((resolve) => setTimeout(resolve, 100));
      const first = await probe.take(child.pid!);
      const blocked = first.stalls.find((stall) => stall.lateMs >= 60);
      expect(blocked).toBeDefined();
      await new Promise((resolve) => setTimeout(resolve, 100));
      const second = await probe.take(child.pid!);
      // A busy machine may delay the timer in the second spell too; the block is not counted again.
      expect(second.stalls.every((stall) => stall.at > blocked!.at)).toBe(true);
      expect(second.requestMs).toEqual([]);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('summarizeProbe', () => {
  it('splits stalls into time running, waiting for a core and in collections, and pauses by kind', () => {
    const snapshot: ProbeSnapshot = {
      pid: 1,
      wallMs: 2000,
      ranMs: 500,
      waitedMs: 100,
      stalls: [
        // 20 ms late: the thread ran 30 ms of the interval (scaled to the stall), a collection covers 8 ms of it.
        { at: 100, lateMs: 20, ranMs: 30, waitedMs: 0 },
        // 10 ms late: 2 ms running and 18 waiting for a core in an interval of 20, scaled to 10.
        { at: 500, lateMs: 10, ranMs: 2, waitedMs: 18 },
      ],
      gcs: [
        { at: 95, ms: 13, kind: 'minor' },
        { at: 1000, ms: 2, kind: 'minor' },
        { at: 1500, ms: 40, kind: 'major' },
      ],
      requestMs: [1, 2, 3, 50],
      threadCpuMs: { main: 500, 'V8 DefaultWorke': 100, 'libuv-worker': 0 },
    };
    const summary = summarizeProbe(snapshot);
    expect(summary.ranCoreShare).toBe(0.25);
    expect(summary.waitedMsPerS).toBe(50);
    expect(summary.stalls).toMatchObject({ count: 2, totalLateMs: 30, ranMs: 21, waitedMs: 9, gcMs: 8 });
    expect(summary.gc).toEqual({ minor: { count: 2, totalMs: 15, p99Ms: 13, maxMs: 13 }, major: { count: 1, totalMs: 40, p99Ms: 40, maxMs: 40 } });
    expect(summary.requestMs).toMatchObject({ count: 4, p50: 2, max: 50 });
    expect(summary.helperThreads).toEqual({ 'V8 DefaultWorke': 0.05 });
  });
});
