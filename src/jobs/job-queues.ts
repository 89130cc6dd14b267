import { type Job, Queue } from 'bullmq';
import type { Logger } from '../logging/logger.ts';
import { inEnqueueSpan } from '../observability/job-trace-context.ts';
import type { AccessJobScheduler } from './job-context.ts';
import type { JobQueueSpec } from './job-queue-specs.ts';
import { queuedJob, JOB_REGISTRY, type PayloadOf, type QueuedJobName } from './job-registry.ts';
import { jobSettings, type JobSettings } from './job-settings.ts';
import { createRedisConnection, type RedisClient } from './redis-connection.ts';

/** Where Latch's queues live: one Redis or a cluster, one key prefix. */
export interface RedisTarget {
  redisUrl: string;
  /** REDIS_URL names a Redis Cluster's seed nodes. */
  redisCluster?: boolean | undefined;
  /** BullMQ key prefix (LATCH_QUEUE_PREFIX); on a Redis Cluster it must hold a {hash tag}. */
  prefix?: string | undefined;
}

export interface JobQueuesOptions extends RedisTarget {
  logger: Logger;
  settings?: Partial<JobSettings>;
}

/**
 * The queues of every registered job, on one connection, and the typed enqueue: a job is added by
 * its name with the payload its definition declares (checked at compile time, parsed here again),
 * under its deterministic id, so duplicate clicks, Slack's retries and the reconcile job never
 * queue the same work twice. Every process role has one; `latch web` only enqueues.
 */
export class JobQueues implements AccessJobScheduler {
  readonly redis: Required<Pick<RedisTarget, 'redisUrl' | 'prefix'>> & Pick<RedisTarget, 'redisCluster'>;
  readonly settings: JobSettings;
  private readonly connection: RedisClient;
  private readonly queues = new Map<string, Queue>();

  constructor({ redisUrl, redisCluster, prefix = 'latch', logger, settings }: JobQueuesOptions) {
    this.redis = { redisUrl, redisCluster, prefix };
    this.settings = jobSettings(settings);
    this.connection = createRedisConnection(redisUrl, 'queue', logger, { cluster: redisCluster });
    for (const { queue } of JOB_REGISTRY) {
      if (!this.queues.has(queue.name)) this.queues.set(queue.name, new Queue(queue.name, { connection: this.connection, prefix }));
    }
  }

  /** The BullMQ queue of a spec (the runner's schedules, the metrics' job counts, tests). */
  queue(spec: JobQueueSpec): Queue {
    const queue = this.queues.get(spec.name);
    if (!queue) throw new Error(`no registered job uses the queue ${spec.name}`);
    return queue;
  }

  /** Adds a job, `at` a time when given (at once when past); an existing job with its id is left alone. */
  async enqueue<Name extends QueuedJobName>(name: Name, payload: PayloadOf<Name>, at?: Date | null): Promise<void> {
    const { definition, data, opts } = this.prepare(name, payload, at);
    await inEnqueueSpan({ name: definition.name, queue: definition.queue.name, ids: [opts.jobId] }, (traced) => this.queue(definition.queue).add(definition.name, traced(data), opts));
  }

  /** Adds many jobs of one definition in one round trip (the reconcile job). */
  async enqueueMany<Name extends QueuedJobName>(name: Name, jobs: ReadonlyArray<{ payload: PayloadOf<Name>; at?: Date | null }>): Promise<void> {
    if (jobs.length === 0) return;
    const prepared = jobs.map(({ payload, at }) => this.prepare(name, payload, at));
    const { queue } = queuedJob(name);
    await inEnqueueSpan({ name, queue: queue.name, ids: prepared.map(({ opts }) => opts.jobId) }, (traced) =>
      this.queue(queue).addBulk(prepared.map(({ definition, data, opts }) => ({ name: definition.name, data: traced(data), opts }))),
    );
  }

  /** The job queued under the id this payload gives, if Redis has it. */
  async find<Name extends QueuedJobName>(name: Name, payload: PayloadOf<Name>): Promise<Job | undefined> {
    const definition = queuedJob(name);
    return this.queue(definition.queue).getJob(definition.id(payload));
  }

  requestGrant(requestId: string, notBefore?: Date | null): Promise<void> {
    return this.enqueue('grant', { requestId }, notBefore);
  }

  requestGrants(requests: ReadonlyArray<{ requestId: string; startsAt: Date | null }>): Promise<void> {
    return this.enqueueMany('grant', requests.map(({ requestId, startsAt }) => ({ payload: { requestId }, at: startsAt })));
  }

  /** Removes a grant job still waiting (a later start called off); one already running finds the request cancelled. */
  async withdrawGrant(requestId: string): Promise<void> {
    const job = await this.find('grant', { requestId });
    if (job && ((await job.isDelayed()) || (await job.isWaiting()))) await job.remove().catch(() => undefined);
  }

  async scheduleRevocation(grantId: string, dueAt: Date): Promise<void> {
    const existing = await this.find('revoke', { grantId });
    if (existing && (await existing.isDelayed())) {
      // Waiting for its time or for a retry: bring it forward when it is due earlier than planned.
      const plannedAt = existing.timestamp + (existing.delay ?? 0);
      if (dueAt.getTime() <= Date.now() || dueAt.getTime() < plannedAt) await moveEarlier(existing, dueAt).catch(() => undefined);
      return;
    }
    await this.enqueue('revoke', { grantId }, dueAt);
  }

  scheduleRevocations(revocations: ReadonlyArray<{ grantId: string; dueAt: Date }>): Promise<void> {
    return this.enqueueMany('revoke', revocations.map(({ grantId, dueAt }) => ({ payload: { grantId }, at: dueAt })));
  }

  async close(): Promise<void> {
    for (const queue of this.queues.values()) await queue.close();
    this.connection.disconnect();
  }

  private prepare<Name extends QueuedJobName>(name: Name, payload: PayloadOf<Name>, at: Date | null | undefined) {
    const definition = queuedJob(name);
    // Refused here, in the caller's stack, rather than by the worker that reads it back.
    const data = definition.payload.parse(payload);
    return { definition, data, opts: { ...definition.options(this.settings), jobId: definition.id(data), delay: delayUntil(at) } };
  }
}

function delayUntil(at: Date | null | undefined): number {
  return at ? Math.max(0, at.getTime() - Date.now()) : 0;
}

async function moveEarlier(job: Job, dueAt: Date): Promise<void> {
  const delay = dueAt.getTime() - Date.now();
  if (delay <= 0) await job.promote();
  else await job.changeDelay(delay);
}
