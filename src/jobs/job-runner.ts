import { setTimeout as sleep } from 'node:timers/promises';
import { DelayedError, type Job, UnrecoverableError, Worker, type WorkerOptions } from 'bullmq';
import { z } from 'zod';
import { withLogContext } from '../logging/log-context.ts';
import { inJobSpan, payloadOf, type RunningJob } from '../observability/job-trace-context.ts';
import type { JobContext } from './job-context.ts';
import type { CronSchedules, JobAttempt, JobDefinition, ScheduledJobDefinition } from './job-definition.ts';
import { QUICK_STALL_RECOVERY, type JobQueueSpec } from './job-queue-specs.ts';
import type { JobQueues } from './job-queues.ts';
import type { JobSettings } from './job-settings.ts';
import { JOB_REGISTRY } from './job-registry.ts';
import { createRedisConnection, type RedisClient } from './redis-connection.ts';

export interface JobRunnerOptions {
  /** The queues jobs are read from and enqueued to; the context's `jobs`. */
  queues: JobQueues;
  context: Omit<JobContext, 'jobs'>;
  /** Every registered job unless told (a test runs a few, or one changed). */
  definitions?: readonly JobDefinition[];
}

/** The workers, schedules and schedule check of a process, as shutdown sees them. */
export interface RunningJobs {
  /** The jobs running now, for shutdown's log ("1 grant job, the reconcile sweep"), or null when none. */
  busyWith(): string | null;
  /** Stops checking schedules and fetching jobs; resolves once the running ones have finished, however long they take. */
  finish(): Promise<void>;
  /**
   * Drops the connections under the jobs still running. Their locks in Redis are no longer
   * renewed, so once they expire a worker here or elsewhere takes the jobs again; the use cases
   * read the truth from PostgreSQL, so the rerun does what is left, once.
   */
  abandon(): Promise<void>;
  /** Ends the workers' connections, once they have finished or let go. */
  close(): Promise<void>;
  /** finish() for at most 10 s, then abandon(): for callers that do not bound it themselves. */
  stop(): Promise<void>;
  /** Runs a scheduled job here and now, as a worker would (at start, or a test's sweep on demand). */
  runNow(definition: ScheduledJobDefinition): Promise<void>;
}

/** The least a job put back to sleep waits: hosts whose clocks disagree must not bounce it in a tight loop. */
const MIN_SLEEP_MS = 250;
/** How long abandon() waits for BullMQ to let go before it cuts the connections itself. */
const DISCONNECT_BOUND_MS = 2_000;
const STOP_BOUND_MS = 10_000;

/** Jobs each process runs at once from a queue, by its spec's `concurrency`. */
const SLOTS: Record<JobQueueSpec['concurrency'], (settings: JobSettings) => number> = {
  configured: (settings) => settings.concurrency,
  revocations: (settings) => settings.revokeConcurrency,
  one: () => 1,
};

/**
 * Runs every registered job in this process (`latch start`, `latch worker`): first the jobs that
 * run at start (the reconcile), then the schedules (idempotent: upserted at every start), then one
 * worker per queue, and a check of the schedules on a timer of this process. The schedules live in
 * Redis, so a Redis that lost its data (FLUSHALL, a restart without persistence) would also lose
 * the reconcile schedule that recovers the lost grant and revocation jobs: the check restores a
 * missing schedule, which runs it at once, and follows a reloaded policy's digests.
 */
export async function runJobs({ queues, context, definitions = JOB_REGISTRY }: JobRunnerOptions): Promise<RunningJobs> {
  const ctx: JobContext = { ...context, jobs: queues };
  const { logger } = ctx;
  const { settings } = queues;
  const scheduled = definitions.filter((definition): definition is ScheduledJobDefinition => definition.kind === 'scheduled');
  const running = new Map<JobDefinition, unknown[]>(definitions.map((definition) => [definition, []]));

  const track = async <T>(definition: JobDefinition, payload: unknown, body: () => Promise<T>): Promise<T> => {
    const list = running.get(definition) ?? [];
    running.set(definition, list);
    list.push(payload);
    try {
      return await body();
    } finally {
      list.splice(list.indexOf(payload), 1);
    }
  };
  const runNow = async (definition: ScheduledJobDefinition) => {
    const payload = definition.payload.parse({});
    await track(definition, payload, () => definition.run(ctx, payload, inlineAttempt(definition.name)));
  };

  for (const definition of scheduled) if (definition.runAtStart) await runNow(definition);

  const schedules = new ScheduleKeeper(queues, ctx, scheduled);
  await schedules.upsertAll();

  const connections: RedisClient[] = [];
  const workers = [...groupByQueue(definitions)].map(([spec, ofQueue]) => {
    const connection = createRedisConnection(queues.redis.redisUrl, 'worker', logger, { cluster: queues.redis.redisCluster });
    connections.push(connection);
    const byName = new Map(ofQueue.map((definition) => [definition.name, definition]));
    const worker = new Worker(
      spec.name,
      (job, token) =>
        withLogContext({ jobId: job.id ?? job.name }, () => inJobSpan(runningJob(job, spec), isSleep, async () => {
          const definition = byName.get(job.name);
          if (!definition) {
            logger.error({ job: job.id, jobName: job.name, queue: spec.name }, `${spec.name} has a job named ${job.name} that no definition runs; failing it`);
            throw new UnrecoverableError(`no job named ${job.name} is registered for ${spec.name}`);
          }
          const parsed = definition.payload.safeParse(payloadOf(job.data));
          if (!parsed.success) {
            const problems = z.prettifyError(parsed.error).replace(/\n\s*/g, '; ');
            logger.error({ job: job.id, jobName: job.name, queue: spec.name }, `${job.name} job ${job.id} has a malformed payload, so it fails without running: ${problems}`);
            throw new UnrecoverableError(`malformed payload: ${problems}`);
          }
          await track(definition, parsed.data, () => definition.run(ctx, parsed.data, attemptOf(job, token)));
        })),
      workerOptions(spec, ofQueue, connection),
    );
    worker.on('failed', (job, error) => {
      if (error instanceof DelayedError) return;
      ctx.metrics?.jobFailed(spec.name);
      const final = error instanceof UnrecoverableError || !job || job.attemptsMade >= (job.opts.attempts ?? 1);
      logger[final ? 'error' : 'warn']({ err: error, job: job?.id, jobName: job?.name, attemptsMade: job?.attemptsMade }, `${job?.name ?? spec.name} job failed`);
    });
    worker.on('error', (error) => logger.error({ err: error }, `${spec.name} worker error`));
    return worker;
  });

  function workerOptions(spec: JobQueueSpec, ofQueue: JobDefinition[], connection: RedisClient): WorkerOptions {
    const delays = ofQueue.flatMap((definition) => (definition.retryDelay ? [definition.retryDelay] : []));
    return {
      connection,
      prefix: queues.redis.prefix,
      concurrency: SLOTS[spec.concurrency](settings),
      ...(spec.quickStallRecovery ? QUICK_STALL_RECOVERY : {}),
      ...(delays.length > 0
        ? { settings: { backoffStrategy: (attemptsMade: number, type?: string, error?: Error) => delays.find((delay) => delay.type === type)?.delayMs(attemptsMade, error, settings) ?? 0 } }
        : {}),
    };
  }

  // One check at a time, so a slow Redis does not pile them up.
  let checking: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    checking = checking.then(() => schedules.check());
  }, settings.scheduleCheckEveryMs);
  timer.unref();

  let finishing: Promise<void> | null = null;
  const finish = () =>
    (finishing ??= (async () => {
      clearInterval(timer);
      await checking;
      await Promise.all(workers.map((worker) => worker.close()));
    })());
  const close = async () => {
    clearInterval(timer);
    for (const connection of connections) connection.disconnect();
  };
  // Bounded: on a Redis Cluster, disconnect() can wait forever for an 'end' event the client does
  // not emit again. close() leaves the connections it was given open: they are ours to end.
  const abandon = async () => {
    await Promise.race([Promise.all(workers.map((worker) => worker.disconnect())).catch(() => undefined), sleep(DISCONNECT_BOUND_MS)]);
    await close();
  };
  return {
    busyWith() {
      const busy = [...running].flatMap(([definition, payloads]) => (payloads.length > 0 ? [definition.describe(payloads)] : []));
      return busy.length > 0 ? busy.join(', ') : null;
    },
    finish,
    abandon,
    close,
    async stop() {
      // close() waits for running jobs without limit: give them a bounded time to finish.
      const finished = await Promise.race([finish().then(() => true), sleep(STOP_BOUND_MS, false)]);
      // Out of time: cut the workers' own blocking connections.
      if (finished) await close();
      else await abandon();
    },
    runNow,
  };
}

/** Keeps the schedules in Redis in line with the scheduled definitions (and the policy's digests). */
class ScheduleKeeper {
  constructor(
    private readonly queues: JobQueues,
    private readonly ctx: JobContext,
    private readonly scheduled: ScheduledJobDefinition[],
  ) {}

  /** At start: every schedule upserted; throws when Redis refuses. */
  async upsertAll(): Promise<void> {
    for (const definition of this.scheduled) {
      if (definition.schedule.kind === 'every') await this.upsertEvery(definition);
      else await this.syncCron(definition, definition.schedule);
    }
  }

  /** Restores the schedules Redis no longer has; never throws (Redis may be down right now). */
  async check(): Promise<void> {
    for (const definition of this.scheduled) {
      try {
        if (definition.schedule.kind === 'cron') await this.syncCron(definition, definition.schedule);
        else if (!(await this.queues.queue(definition.queue).getJobScheduler(definition.name))) {
          this.ctx.logger.warn({ schedule: definition.name }, `Redis lost the ${definition.name} schedule (was it flushed or restarted empty?); restoring it and running it now`);
          await this.upsertEvery(definition);
        }
      } catch (error) {
        this.ctx.logger.warn({ err: error, schedule: definition.name }, `could not check the ${definition.name} schedule in Redis; will try again`);
      }
    }
  }

  private async upsertEvery(definition: ScheduledJobDefinition): Promise<void> {
    if (definition.schedule.kind !== 'every') return;
    const every = definition.schedule.everyMs(this.queues.settings);
    await this.queues.queue(definition.queue).upsertJobScheduler(definition.name, { every }, { name: definition.name, data: {}, opts: definition.options(this.queues.settings) });
  }

  /** Removes the schedulers no longer wanted, upserts those new or changed. */
  private async syncCron(definition: ScheduledJobDefinition, schedule: CronSchedules<unknown>): Promise<void> {
    const queue = this.queues.queue(definition.queue);
    const wanted = new Map(schedule.entries(this.ctx).map((entry) => [entry.id, entry]));
    for (const scheduler of await queue.getJobSchedulers(0, -1)) {
      if (!scheduler.key.startsWith(schedule.idPrefix)) continue;
      const entry = wanted.get(scheduler.key);
      if (!entry) await queue.removeJobScheduler(scheduler.key);
      else if (scheduler.pattern === entry.pattern && scheduler.tz === entry.timeZone) wanted.delete(scheduler.key);
    }
    for (const entry of wanted.values()) {
      await queue.upsertJobScheduler(entry.id, { pattern: entry.pattern, tz: entry.timeZone }, { name: definition.name, data: entry.payload, opts: definition.options(this.queues.settings) });
      this.ctx.logger.info({ scheduler: entry.id, schedule: entry.pattern, timeZone: entry.timeZone }, `${definition.name} scheduled`);
    }
  }
}

function groupByQueue(definitions: readonly JobDefinition[]): Map<JobQueueSpec, JobDefinition[]> {
  const groups = new Map<JobQueueSpec, JobDefinition[]>();
  for (const definition of definitions) groups.set(definition.queue, [...(groups.get(definition.queue) ?? []), definition]);
  return groups;
}

/** A job as its span names it (observability/job-trace-context.ts). */
function runningJob(job: Job, spec: JobQueueSpec): RunningJob {
  return { id: job.id ?? job.name, name: job.name, queue: spec.name, attempt: job.attemptsMade + 1, data: job.data };
}

/** A job put back to sleep (sleepUntil) throws DelayedError: not a failure. */
const isSleep = (error: unknown) => error instanceof DelayedError;

function attemptOf(job: Job, token: string | undefined): JobAttempt {
  return {
    id: job.id ?? job.name,
    isFinal: job.attemptsMade + 1 >= (job.opts.attempts ?? 1),
    async sleepUntil(at) {
      await job.moveToDelayed(Math.max(at.getTime(), Date.now() + MIN_SLEEP_MS), token);
      throw new DelayedError();
    },
  };
}

/** A scheduled job run here and now: nothing to retry, nowhere to sleep. */
function inlineAttempt(name: string): JobAttempt {
  return {
    id: `${name}-inline`,
    isFinal: true,
    sleepUntil: () => Promise.reject(new Error(`${name} cannot sleep when run inline`)),
  };
}
