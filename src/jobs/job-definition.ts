import type { JobsOptions } from 'bullmq';
import { z } from 'zod';
import type { JobContext } from './job-context.ts';
import { JOB_QUEUES, type JobQueueSpec } from './job-queue-specs.ts';
import type { JobSettings } from './job-settings.ts';

/**
 * One job of Latch: everything about it in one place. The runner (job-runner.ts) creates its
 * queue's worker and its schedule; the typed enqueue (job-queues.ts) adds it by name. A job only
 * calls its use case, which reads the truth from PostgreSQL, so a job that runs twice, late, or
 * after its request changed does the right thing.
 */
interface JobDefinitionBase<Name extends string, Payload> {
  /** The BullMQ job name: unique in the registry. */
  readonly name: Name;
  readonly queue: JobQueueSpec;
  /** Parsed when the job is read back from Redis: a malformed payload fails the job, never runs it. */
  readonly payload: z.ZodType<Payload>;
  /** Attempts, backoff, how long finished jobs are kept. */
  options(settings: JobSettings): JobsOptions;
  /** A backoff of the job's own (named in `options`), computed by its worker. */
  readonly retryDelay?: CustomRetryDelay | undefined;
  /** What the running jobs of this definition are called in shutdown's log ("2 grant jobs"). */
  describe(running: Payload[]): string;
  run(ctx: JobContext, payload: Payload, attempt: JobAttempt): Promise<void>;
}

/** A job added on demand, under a deterministic id: BullMQ ignores an add whose id exists. */
export interface QueuedJobDefinition<Name extends string = string, Payload = unknown> extends JobDefinitionBase<Name, Payload> {
  readonly kind: 'queued';
  /** Never contains `:` (BullMQ refuses it) and is never all digits. */
  id(payload: Payload): string;
}

/** A job BullMQ's job schedulers add, once per run whatever the number of workers. */
export interface ScheduledJobDefinition<Name extends string = string, Payload = unknown> extends JobDefinitionBase<Name, Payload> {
  readonly kind: 'scheduled';
  readonly schedule: EverySchedule | CronSchedules<Payload>;
  /** Also run inline when a worker starts, before it takes any job (the reconcile). */
  readonly runAtStart?: boolean;
}

export type JobDefinition<Name extends string = string, Payload = unknown> = QueuedJobDefinition<Name, Payload> | ScheduledJobDefinition<Name, Payload>;

/** One scheduler, named after the job, every few milliseconds. */
export interface EverySchedule {
  readonly kind: 'every';
  everyMs(settings: JobSettings): number;
}

/**
 * One scheduler per entry, by cron expression and time zone, read again at every schedule check
 * so a reloaded policy takes effect: entries added or changed are scheduled, schedulers under
 * `idPrefix` no longer wanted are removed.
 */
export interface CronSchedules<Payload> {
  readonly kind: 'cron';
  /** Every scheduler id of this job starts with it. */
  readonly idPrefix: string;
  entries(ctx: JobContext): CronEntry<Payload>[];
}

export interface CronEntry<Payload> {
  /** The scheduler's id, starting with the schedule's idPrefix. */
  id: string;
  pattern: string;
  timeZone: string;
  payload: Payload;
}

export interface CustomRetryDelay {
  /** The backoff type named in the job's options. */
  readonly type: string;
  /** Delay before the retry that follows `attemptsMade` failures, the last one being `error`. */
  delayMs(attemptsMade: number, error: Error | undefined, settings: JobSettings): number;
}

/** The attempt being run, as a definition sees it. */
export interface JobAttempt {
  readonly id: string;
  /** No retry follows this attempt if it fails. */
  readonly isFinal: boolean;
  /**
   * Puts the job back to sleep until `at` without counting an attempt (a grant asked for a later
   * start, an extended grant); always a moment at least, so hosts whose clocks disagree by a second
   * do not bounce a job between them.
   */
  sleepUntil(at: Date): Promise<never>;
}

export function defineQueuedJob<const Name extends string, Payload>(definition: Omit<QueuedJobDefinition<Name, Payload>, 'kind'>): QueuedJobDefinition<Name, Payload> {
  return { kind: 'queued', ...definition };
}

export function defineScheduledJob<const Name extends string, Payload>(
  definition: Omit<ScheduledJobDefinition<Name, Payload>, 'kind'>,
): ScheduledJobDefinition<Name, Payload> {
  return { kind: 'scheduled', ...definition };
}

const NO_PAYLOAD = z.object({});
type NoPayload = z.infer<typeof NO_PAYLOAD>;

/** What a maintenance sweep says about itself; defineSweep fills in what every sweep shares. */
export interface SweepDefinition<Name extends string> {
  readonly name: Name;
  everyMs(settings: JobSettings): number;
  /** Also run inline when a worker starts, before it takes any job (the reconcile). */
  readonly runAtStart?: boolean;
  run(ctx: JobContext): Promise<unknown>;
}

/**
 * A maintenance sweep over PostgreSQL: no payload, on the maintenance queue, every few
 * milliseconds, its last hundred runs kept for inspection. A missed or repeated run changes
 * nothing but timing, since the use case reads the truth each time.
 */
export function defineSweep<const Name extends string>(sweep: SweepDefinition<Name>): ScheduledJobDefinition<Name, NoPayload> {
  return defineScheduledJob({
    name: sweep.name,
    queue: JOB_QUEUES.maintenance,
    payload: NO_PAYLOAD,
    schedule: { kind: 'every', everyMs: sweep.everyMs },
    ...(sweep.runAtStart ? { runAtStart: true } : {}),
    options: () => ({ removeOnComplete: 100, removeOnFail: 100 }),
    describe: () => `the ${sweep.name} sweep`,
    async run(ctx) {
      await sweep.run(ctx);
    },
  });
}

/** "1 grant job", "2 grant jobs". */
export function countOf(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
