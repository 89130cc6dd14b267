import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Queue } from 'bullmq';
import pg from 'pg';
import { DEFAULT_REQUEST_LIMITS, type Policy } from '../src/domain/policy.ts';
import { reconcileAccess, RECONCILE_HORIZON_MS } from '../src/jobs/definitions/reconcile.ts';
import { revokeGrantJob } from '../src/jobs/definitions/revoke-grant.ts';
import { JobQueues } from '../src/jobs/job-queues.ts';
import { createRedisConnection } from '../src/jobs/redis-connection.ts';
import { createLogger } from '../src/logging/logger.ts';
import { findReconcileWork } from '../src/services/find-reconcile-work.ts';
import { systemClock, type ServiceContext } from '../src/services/service-context.ts';
import { createDatabase } from '../src/store/database.ts';
import { migrateDatabase } from '../src/store/migrate.ts';
import { PrivateRedis } from '../test/helpers/private-redis.ts';
import { createBenchDatabase } from './services.ts';

/**
 * Redis loses everything (FLUSHALL) while `grants` grants are active: how long the worker's
 * reconcile (src/jobs/definitions/reconcile.ts, the function a worker runs at start-up and every
 * minute) takes until every grant has its revocation job back. Beside it, the time bare BullMQ
 * takes to add as many delayed jobs with Queue.addBulk, on the same Redis in the same run.
 *
 * The grants are written straight into PostgreSQL in two INSERT … SELECT statements, and expire
 * between 4 and 5 minutes after that: all within the reconcile's 5-minute horizon, so one run
 * must put back all of them, and none due while it runs. Reconcile runs in this process with no
 * worker beside it, on a Redis of its own (FLUSHALL touches nothing else).
 */
export interface ReconcileOptions {
  adminDatabaseUrl: string;
  grants: number;
  say(line: string): void;
}

export interface ReconcileResult {
  grants: number;
  insertMs: number;
  /** The jobs as they were before the flush, scheduled by JobQueues in pages of 1,000. */
  firstScheduleMs: number;
  reconcileMs: number;
  /** Reading the same work from PostgreSQL alone (findReconcileWork), without Redis. */
  readOnlyMs: number;
  bareAddBulkMs: number;
  restored: number;
  sampledMissing: number;
  dueDuringReconcile: number;
}

const FIRST_EXPIRY_MS = 4 * 60_000;
const LAST_EXPIRY_MS = RECONCILE_HORIZON_MS - 5_000;
const PAGE = 1_000;

export async function runReconcileAfterFlush({ adminDatabaseUrl, grants: count, say }: ReconcileOptions): Promise<ReconcileResult> {
  const logger = createLogger({ level: 'silent' });
  const database = await createBenchDatabase(adminDatabaseUrl);
  const redis = await PrivateRedis.start();
  const db = createDatabase({ databaseUrl: database.url });
  const queues = new JobQueues({ redisUrl: redis.url, logger });
  const client = new pg.Client({ connectionString: database.url, application_name: 'latch-bench-reconcile' });
  try {
    await migrateDatabase({ databaseUrl: database.url, logger });
    await client.connect();
    const insertStart = performance.now();
    const now = new Date();
    await client.query(
      `INSERT INTO access_requests (id, requester_slack_id, resource_id, role, principal, duration_seconds, reason, state, decided_at, created_at, updated_at)
       SELECT gen_random_uuid(), 'U0BENCH' || lpad((g % 500)::text, 4, '0'), 'prod-db', 'read', 'bench_user_' || g, 3600, 'benchmark', 'active', $1, $1, $1
         FROM generate_series(1, $2) AS g`,
      [now, count],
    );
    await client.query(
      `INSERT INTO grants (id, request_id, provider, principal, resource_id, role, granted_at, expires_at, grant_attempts, updated_at)
       SELECT gen_random_uuid(), id, 'webhook', principal, resource_id, role, $1, $1::timestamptz + make_interval(secs => ($2::float8 + (row_number() OVER (ORDER BY id) - 1) * $3::float8) / 1000.0), 1, $1
         FROM access_requests`,
      [now, FIRST_EXPIRY_MS, (LAST_EXPIRY_MS - FIRST_EXPIRY_MS) / count],
    );
    await client.query('VACUUM (ANALYZE) access_requests');
    await client.query('VACUUM (ANALYZE) grants');
    const insertMs = performance.now() - insertStart;
    say(`  ${count.toLocaleString('en-US')} active grants inserted in ${(insertMs / 1000).toFixed(1)} s, expiring ${FIRST_EXPIRY_MS / 60_000} to ${(LAST_EXPIRY_MS / 60_000).toFixed(1)} minutes from now`);

    const { rows } = await client.query<{ id: string; expires_at: Date }>('SELECT id, expires_at FROM grants ORDER BY id');
    const scheduleStart = performance.now();
    for (let i = 0; i < rows.length; i += PAGE) {
      await queues.scheduleRevocations(rows.slice(i, i + PAGE).map((row) => ({ grantId: row.id, dueAt: row.expires_at })));
    }
    const firstScheduleMs = performance.now() - scheduleStart;
    const before = await queues.queue(revokeGrantJob.queue).getDelayedCount();
    say(`  their ${before.toLocaleString('en-US')} revocation jobs scheduled through JobQueues in ${(firstScheduleMs / 1000).toFixed(1)} s`);

    await redis.flushAll();
    const afterFlush = await queues.queue(revokeGrantJob.queue).getDelayedCount();
    say(`  FLUSHALL: ${afterFlush} revocation jobs left in Redis`);

    const ctx = { db, clock: systemClock, logger, policy: () => EMPTY_POLICY } as unknown as ServiceContext;
    const reconcileStartedAt = new Date();
    const reconcileStart = performance.now();
    await reconcileAccess(ctx, queues, logger);
    const reconcileMs = performance.now() - reconcileStart;
    const restored = await queues.queue(revokeGrantJob.queue).getDelayedCount();
    const dueDuringReconcile = rows.filter((row) => row.expires_at.getTime() <= reconcileStartedAt.getTime() + reconcileMs).length;
    let sampledMissing = 0;
    for (let i = 0; i < 200; i++) {
      const row = rows[Math.floor((i * rows.length) / 200)]!;
      if (!(await queues.find('revoke', { grantId: row.id }))) sampledMissing++;
    }
    say(`  reconcile put back ${restored.toLocaleString('en-US')} revocation jobs in ${(reconcileMs / 1000).toFixed(1)} s (${sampledMissing} of 200 sampled grants without their job)`);

    const readStart = performance.now();
    let read = 0;
    for await (const work of findReconcileWork(ctx, RECONCILE_HORIZON_MS)) read += work.revocations.length + work.grants.length;
    const readOnlyMs = performance.now() - readStart;
    say(`  the same ${read.toLocaleString('en-US')} rows read from PostgreSQL alone (findReconcileWork, pages of ${PAGE}) in ${(readOnlyMs / 1000).toFixed(1)} s`);

    const bareAddBulkMs = await bareAddBulk(redis.url, rows.map((row) => row.expires_at.getTime()), logger);
    say(`  bare BullMQ: ${count.toLocaleString('en-US')} delayed jobs added with Queue.addBulk (pages of ${PAGE}) in ${(bareAddBulkMs / 1000).toFixed(1)} s`);
    return { grants: count, insertMs, firstScheduleMs, reconcileMs, readOnlyMs, bareAddBulkMs, restored, sampledMissing, dueDuringReconcile };
  } finally {
    await client.end().catch(() => undefined);
    await queues.close().catch(() => undefined);
    await db.$disconnect().catch(() => undefined);
    await redis.stop().catch(() => undefined);
    await database.drop().catch((error: unknown) => say(`cleanup: could not drop ${database.name}: ${(error as Error).message}`));
  }
}

/** The floor: as many delayed jobs, with the same due times, straight through addBulk. */
async function bareAddBulk(redisUrl: string, dueTimes: number[], logger: ReturnType<typeof createLogger>): Promise<number> {
  const connection = createRedisConnection(redisUrl, 'queue', logger);
  const queue = new Queue('bench-bare-reconcile', { connection, prefix: `bench-${randomBytes(4).toString('hex')}` });
  try {
    const start = performance.now();
    for (let i = 0; i < dueTimes.length; i += PAGE) {
      await queue.addBulk(
        dueTimes.slice(i, i + PAGE).map((due, j) => ({ name: 'revoke', data: { grantId: `bare-${i + j}` }, opts: { jobId: `bare-${i + j}`, delay: Math.max(0, due - Date.now()), removeOnComplete: true, removeOnFail: true } })),
      );
    }
    return performance.now() - start;
  } finally {
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    connection.disconnect();
  }
}

const EMPTY_POLICY: Policy = { version: 'bench', security: { channel: null, admins: { users: [], groups: [] } }, limits: DEFAULT_REQUEST_LIMITS, digests: [], resources: [], machines: [] };
