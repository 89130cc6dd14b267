import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { expirePendingRequestsJob } from '../../../src/jobs/definitions/expire-pending-requests.ts';
import { reconcileJob } from '../../../src/jobs/definitions/reconcile.ts';
import type { JobDefinition } from '../../../src/jobs/job-definition.ts';
import { JobQueues } from '../../../src/jobs/job-queues.ts';
import { runJobs } from '../../../src/jobs/job-runner.ts';
import type { JobSettings } from '../../../src/jobs/job-settings.ts';
import { createLogger } from '../../../src/logging/logger.ts';
import { testJobContext } from '../../helpers/job-context.ts';

/**
 * The job runner's scheduled jobs on the real Redis: they run on their schedule, stop when the
 * runner stops, and get their schedules back when Redis lost them, while running or at the next start.
 */
const logger = createLogger({ level: 'silent' });
const redis = new Redis(inject('redisUrl'));
afterAll(() => redis.quit());

async function waitUntil(check: () => boolean, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** The runner with the given jobs only. */
async function start(prefix: string, definitions: JobDefinition[], settings: Partial<JobSettings>) {
  const queues = new JobQueues({ redisUrl: inject('redisUrl'), prefix, logger, settings });
  const jobs = await runJobs({ queues, context: testJobContext({ logger }), definitions });
  return {
    jobs,
    async stop() {
      await jobs.stop();
      await queues.close();
    },
  };
}

/** The expiry sweep, running `run` instead of its use case: these tests are about when it runs. */
function expirySweep(run: () => Promise<void> = async () => {}): JobDefinition {
  return { ...expirePendingRequestsJob, run };
}

/** The reconcile job, counting its runs instead of reading PostgreSQL. */
function countingReconcile(counter: { runs: number }, runAtStart = false): JobDefinition {
  return { ...reconcileJob, runAtStart, run: async () => void counter.runs++ };
}

describe('scheduled jobs in the job runner', () => {
  it('runs the expiry sweep on its schedule, and stops running it when stopped', async () => {
    let runs = 0;
    const prefix = `latch-test-${randomBytes(4).toString('hex')}`;
    const runner = await start(prefix, [expirySweep(async () => void runs++)], { sweepEveryMs: 150 });
    await waitUntil(() => runs >= 3);
    await runner.stop();
    const after = runs;
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(runs).toBe(after);
  });

  it('gets its schedule back after Redis lost everything, at the next start', async () => {
    const prefix = `latch-test-${randomBytes(4).toString('hex')}`;
    const first = await start(prefix, [expirySweep()], { sweepEveryMs: 60_000 });
    await first.stop();
    // What FLUSHALL would do to this prefix's keys, without disturbing other test files.
    const keys = await redis.keys(`${prefix}:*`);
    expect(keys.length).toBeGreaterThan(0);
    await redis.del(...keys);

    let runs = 0;
    const second = await start(prefix, [expirySweep(async () => void runs++)], { sweepEveryMs: 150 });
    await waitUntil(() => runs >= 1);
    await second.stop();
    expect(runs).toBeGreaterThanOrEqual(1);
  });

  it('restores its schedules while running when Redis lost them, and runs the reconcile sweep again at once', async () => {
    const prefix = `latch-test-${randomBytes(4).toString('hex')}`;
    const reconciles = { runs: 0 };
    const runner = await start(prefix, [countingReconcile(reconciles), expirySweep()], { sweepEveryMs: 60_000, reconcileEveryMs: 60_000, scheduleCheckEveryMs: 100 });
    try {
      await waitUntil(() => reconciles.runs === 1);
      // FLUSHALL, for this prefix only. The next scheduled run is a minute away: only the check can bring it back sooner.
      await redis.del(...(await redis.keys(`${prefix}:*`)));
      await waitUntil(() => reconciles.runs === 2, 5_000);
    } finally {
      await runner.stop();
    }
  });

  it('runs the reconcile before it starts any worker, when a job is marked to run at start', async () => {
    const prefix = `latch-test-${randomBytes(4).toString('hex')}`;
    const reconciles = { runs: 0 };
    const runner = await start(prefix, [countingReconcile(reconciles, true)], { reconcileEveryMs: 60_000 });
    try {
      expect(reconciles.runs).toBeGreaterThanOrEqual(1);
    } finally {
      await runner.stop();
    }
  });

  it('names the running job for the shutdown log, and finishes it before it stops', async () => {
    const prefix = `latch-test-${randomBytes(4).toString('hex')}`;
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let started = false;
    const runner = await start(
      prefix,
      [
        expirySweep(async () => {
          started = true;
          await held;
        }),
      ],
      { sweepEveryMs: 60_000 },
    );
    await waitUntil(() => started);
    expect(runner.jobs.busyWith()).toBe('the expire-pending-requests sweep');
    const finished = runner.jobs.finish();
    release();
    await finished;
    expect(runner.jobs.busyWith()).toBeNull();
    await runner.stop();
  });
});
