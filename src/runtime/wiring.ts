import type { ServiceEnv } from '../config/env.ts';
import { ProviderOnCallDirectory } from '../oncall/on-call-directory.ts';
import type { Policy } from '../domain/policy.ts';
import type { AccessJobMetrics } from '../jobs/job-context.ts';
import { notifyPeopleJob } from '../jobs/definitions/notify-people.ts';
import type { JobDefinition } from '../jobs/job-definition.ts';
import { JOB_QUEUES } from '../jobs/job-queue-specs.ts';
import { JobQueues } from '../jobs/job-queues.ts';
import { runJobs, type RunningJobs } from '../jobs/job-runner.ts';
import { JOB_REGISTRY } from '../jobs/job-registry.ts';
import { createRedisConnection, type RedisClient } from '../jobs/redis-connection.ts';
import type { Logger } from '../logging/logger.ts';
import type { Tracing } from '../observability/start-tracing.ts';
import { LatchMetrics } from '../metrics/latch-metrics.ts';
import type { AccessProvider } from '../providers/provider.ts';
import { createProvider, createProviders, providerGuard, type ProvidersResult } from '../providers/registry.ts';
import type { ProviderServices } from '../providers/target-lock.ts';
import type { AccessContext } from '../services/access-context.ts';
import { portOf, startHttpServer } from '../slack/http-server.ts';
import { createApiListener, type OidcExchangeParts } from '../api/api-listener.ts';
import { API_PREFIX } from '../api/openapi.ts';
import { PrincipalRateLimiter } from '../api/rate-limiter.ts';
import { FailedTokenChecks } from '../api/failed-token-checks.ts';
import { createMcpListener } from '../mcp/mcp-listener.ts';
import { MCP_PATH } from '../mcp/mcp-path.ts';
import { OidcIssuers } from '../api/oidc-verifier.ts';
import { RedisSeenOidcTokens } from '../api/redis-seen-oidc-tokens.ts';
import { RedisSeenSignatures } from '../slack/seen-signatures.ts';
import type { SlackTransport } from '../slack/slack-transport.ts';
import { PostgresAccessLocks } from '../store/access-lock.ts';
import { createDatabase, DEFAULT_POOL_SIZE, type Database } from '../store/database.ts';
import { PostgresTargetLocks } from '../store/target-lock.ts';
import { createLatch, type Latch, type LatchOptions } from './create-latch.ts';
import { QueuedNotices } from './queued-notices.ts';
import { finishingPart, GracefulShutdown } from './graceful-shutdown.ts';
import { PolicySource } from './policy-source.ts';
import { readinessCheck } from './readiness.ts';
import { servingPart } from './serving-part.ts';

/*
 * The one place a Latch process is put together, for each of its roles. What the use cases get:
 * - `ctx.access`: where a use case queues what follows its commit (a grant, a revocation): the
 *   BullMQ queues (jobs/job-queues.ts), in every role, since `latch web` approves too.
 * - `ctx.events`: who hears what happened: the Slack notifier (slack/notifier.ts), built with the
 *   Slack app by createLatch (create-latch.ts, which also registers the listeners). In `latch web`
 *   the listeners' use cases queue it instead (QueuedNotices, a `notify` job), so a worker tells
 *   people; the jobs' use cases tell the notifier of their own process, except the revocations',
 *   which are queued too where this process runs the notify jobs (startJobs).
 * - `ctx.providerFor`: the provider of a resource in the policy in force, asked on every use, so
 *   a reloaded policy (PolicySource) brings its providers with it.
 * - the job context (jobs/job-context.ts): the same use-case context plus this process's access
 *   locks and the providers of grants' recorded settings (startJobs, below), the queues and
 *   metrics. Only `latch start` and `latch worker` build it.
 * The roles differ in four places only, each marked `Role:` below: a worker opens no Socket Mode and
 * serves no Slack requests over HTTP; a web process runs no jobs, so it opens no access lock, and
 * leaves its Slack notices to the workers.
 * Shutdown: every part is added to GracefulShutdown in the order it opens; all stop taking work
 * at once, the work in hand finishes (bounded), then they close in the reverse order, so no part
 * closes under another still using it (PostgreSQL, opened first, closes last).
 */

/**
 * `all` (latch start) serves Slack and runs the jobs; `web` only serves Slack; `worker` only runs
 * the jobs (and answers /healthz and /readyz). Any number of each can share one PostgreSQL and one
 * Redis: a scheduled job runs on one worker whatever their number.
 */
export type ProcessRole = 'all' | 'web' | 'worker';

/**
 * What only a test's entry point gives (test/helpers/latch-for-tests.ts), never bin/latch.js: no
 * variable or policy field reaches it, so a deployment cannot grant for seconds.
 */
export type TestOnlySettings = Pick<LatchOptions, 'minimumDurationSeconds'>;

/**
 * The start-up checks, in the order the process reaches them; each throws, saying what is wrong
 * in the caller's terms (the CLI's messages and exit codes, cli/commands/start.ts).
 */
export interface StartChecks {
  /** Every provider of the policy was built, or throws naming each problem. */
  providers(built: ProvidersResult): Map<string, AccessProvider>;
  /** PostgreSQL answers with every migration applied. */
  database(db: Database): Promise<void>;
  /** Redis answers (connecting it), in the mode REDIS_CLUSTER says. */
  redis(redis: RedisClient): Promise<void>;
  /** Slack accepts the bot token and says which workspace and app Latch is (`init` does that). */
  slack(init: () => Promise<void>): Promise<void>;
  /** The HTTP server could not listen on PORT. */
  listenFailed(error: NodeJS.ErrnoException): never;
  /** Slack accepts the app token and opens Socket Mode (`transport.connect()`; nothing over HTTP). */
  socketMode(transport: SlackTransport): Promise<void>;
}

export interface LatchProcessOptions {
  role: ProcessRole;
  env: ServiceEnv;
  /** Where providers read the secrets their settings name (process.env). */
  variables: Record<string, string | undefined>;
  policy: Policy;
  logger: Logger;
  checks: StartChecks;
  testOnly?: TestOnlySettings;
  /** The OpenTelemetry SDK when traces are on (observability/start-tracing.ts): its last spans go once everything else has closed. */
  tracing?: Tracing | null;
}

export interface LatchProcess {
  port: number;
  /** Runs on a signal (see GracefulShutdown.onSignals). */
  shutdown: GracefulShutdown;
}

/** Builds, checks and starts every part `role` runs; on a failed check, closes what it opened. */
export async function startLatchProcess(options: LatchProcessOptions): Promise<LatchProcess> {
  const { env, role, logger, checks } = options;
  const { source, targetLocks } = await startPolicySource(options);
  // A process that runs revocations sends up to one statement per running revocation at once: the
  // pool grows with LATCH_REVOKE_CONCURRENCY beyond pg's default of 10, or the slots would queue
  // for connections instead of for PostgreSQL.
  const db = createDatabase({ databaseUrl: env.DATABASE_URL, poolSize: role === 'web' ? DEFAULT_POOL_SIZE : Math.max(DEFAULT_POOL_SIZE, env.LATCH_REVOKE_CONCURRENCY) });
  // Every connection to Redis, its queues' and workers' too: one Redis or a cluster, one key prefix.
  const redis = createRedisConnection(env.REDIS_URL, 'queue', logger, { cluster: env.REDIS_CLUSTER });
  const shutdown = new GracefulShutdown({ logger, timeoutMs: env.LATCH_SHUTDOWN_TIMEOUT_SECONDS * 1000 });
  const { tracing } = options;
  if (tracing) shutdown.add({ name: 'the traces', close: () => tracing.shutdown() });
  shutdown.add({ name: 'PostgreSQL', close: () => db.$disconnect() });
  // Closed after the workers: a lock still held then belongs to work already let go of, and
  // ending its connection releases it.
  shutdown.add({ name: 'the target locks', close: () => targetLocks.close({ force: true }) });
  shutdown.add({ name: 'Redis', close: () => redis.quit().catch(() => redis.disconnect()) });
  shutdown.add({ name: 'the policy', close: () => source.close() });
  try {
    await checks.database(db);
    await checks.redis(redis);
    // Only once Redis answers: a queue's connection would otherwise log every failed retry.
    const queues = new JobQueues({ redisUrl: env.REDIS_URL, redisCluster: env.REDIS_CLUSTER, prefix: env.LATCH_QUEUE_PREFIX, logger, settings: { revokeConcurrency: env.LATCH_REVOKE_CONCURRENCY } });
    shutdown.add({ name: 'the job queues', close: () => queues.close() });
    // Every role reports the same gauges from PostgreSQL and Redis, and counts what it does itself.
    const metrics = new LatchMetrics({ db, queues: [queues.queue(JOB_QUEUES.grants), queues.queue(JOB_QUEUES.revocations)], logger });
    // Every role builds the Slack app: a worker's jobs tell people through its notifier.
    const latch = createLatch({
      db,
      access: queues,
      // Role: in `latch web` the Slack notices that follow a command or click are a job any worker
      // runs, so they cost the web process one enqueue and survive its death after the commit. `latch
      // start` posts them itself, as its own jobs' notices: a queue buys one process nothing, and
      // its shutdown then finishes them with the handlers that made them.
      ...(role === 'web' ? { events: (notifier: Latch['notifier']) => new QueuedNotices(queues, db, notifier) } : {}),
      policy: () => source.policy,
      logger,
      botToken: env.SLACK_BOT_TOKEN,
      signingSecret: env.SLACK_SIGNING_SECRET,
      // Role: a worker takes nothing from Slack, so it never opens a Socket Mode connection.
      appToken: role !== 'worker' ? env.SLACK_APP_TOKEN : undefined,
      slackApiUrl: env.SLACK_API_URL,
      metrics,
      maxListenerWork: env.LATCH_MAX_SLACK_WORK,
      // Under the queues' prefix: every `latch web` sharing this Redis sees what the others took.
      seenSignatures: new RedisSeenSignatures(redis, env.LATCH_QUEUE_PREFIX),
      providers: source.providers,
      onCall: ProviderOnCallDirectory.fromEnv(env, logger),
      ...options.testOnly,
    });
    // Before any job runs: a token Slack refuses stops the start before anything is granted or revoked.
    await checks.slack(() => latch.init());
    // Role: `latch web` only enqueues, and opens no access lock; the others run every registered job.
    if (role !== 'web') {
      const jobs = await startJobs({ latch, queues, providers: source.providers, databaseUrl: env.DATABASE_URL, logger, metrics });
      shutdown.add(finishingPart('the jobs', jobs));
    }
    // Listening comes late: Slack's requests and the probes arrive once what they reach is built.
    // Role: a worker answers /healthz, /readyz and /metrics only.
    const listeners = role !== 'worker' ? machineListeners(latch, logger, { verifier: new OidcIssuers(), seen: new RedisSeenOidcTokens(redis, env.LATCH_QUEUE_PREFIX) }, { trustedProxyHops: env.LATCH_TRUSTED_PROXY_HOPS, maxWaitingLogins: env.LATCH_MAX_WAITING_LOGINS }) : null;
    const server = await startHttpServer({
      port: env.PORT,
      ...listeners?.serve,
      readiness: readinessCheck({ db, redis, queuePrefix: env.LATCH_QUEUE_PREFIX, policyVersion: () => source.policy.version, slackSocket: () => latch.transport.socketState() }),
      metrics: () => metrics.scrape(),
      logger,
    }).catch((error: NodeJS.ErrnoException) => checks.listenFailed(error));
    shutdown.add(servingPart(server, latch.listenerWork));
    // A machine's call waiting for a decision (the API's long-poll, the MCP wait) answers at once
    // with the request as it is, so the drain need not wait out a minute.
    if (listeners) shutdown.add({ name: "the machines' waits", stopTaking: () => listeners.stopWaiting() });
    // Socket Mode: Slack's events arrive once the connection opens. At shutdown it closes first, so
    // Slack sends new events to the app's other connections while the work in hand finishes.
    await checks.socketMode(latch.transport);
    shutdown.add({ name: 'the Slack socket', stopTaking: () => void latch.transport.disconnect().catch(() => undefined) });
    // SIGHUP or a saved change of the file: a valid policy replaces the one in force, an invalid one is refused.
    shutdown.add({ name: 'the policy watcher', stopTaking: source.watch() });
    return { port: portOf(server), shutdown };
  } catch (error) {
    await shutdown.run('start-up failed');
    throw error;
  }
}

/**
 * What a `latch web` serves besides probes: Slack's requests, and the machines' /api/v1 and /mcp,
 * which share one rate limiter, so a machine cannot double its calls by using both, and one limit
 * on failed token checks per address, so neither can someone guessing tokens.
 */
function machineListeners(latch: Latch, logger: Logger, oidc: OidcExchangeParts, { trustedProxyHops, maxWaitingLogins }: { trustedProxyHops: number; maxWaitingLogins: number }) {
  const limiter = new PrincipalRateLimiter();
  const failedTokenChecks = new FailedTokenChecks(logger);
  const stopping = new AbortController();
  return {
    serve: {
      slack: latch.transport.requestListener,
      api: { prefix: API_PREFIX, serve: createApiListener({ services: latch.services, logger, limiter, failedTokenChecks, stopWaiting: stopping.signal, oidc, trustedProxyHops, maxWaitingLogins }) },
      mcp: { path: MCP_PATH, serve: createMcpListener({ services: latch.services, logger, limiter, failedTokenChecks, stopping: stopping.signal, trustedProxyHops }) },
    },
    stopWaiting: () => stopping.abort(),
  };
}

/**
 * The policy in force and its providers, reloaded when the file changes. Every provider, those of
 * a reloaded policy too, borrows the one set of target locks, whose connections open on first
 * use: a `latch web`, which grants nothing, never opens one.
 */
async function startPolicySource({ env, variables, policy, logger, checks }: LatchProcessOptions): Promise<{ source: PolicySource; targetLocks: PostgresTargetLocks }> {
  const targetLocks = new PostgresTargetLocks({ databaseUrl: env.DATABASE_URL });
  const services: ProviderServices = { locks: targetLocks };
  const providers = await createProviders(policy, variables, services)
    .then((built) => checks.providers(built))
    .catch(async (error: unknown) => {
      await targetLocks.close();
      throw error;
    });
  const source: PolicySource = new PolicySource(
    env.LATCH_POLICY_FILE,
    { policy, providers },
    (next) => createProviders(next, variables, services),
    logger,
    // Access granted under an earlier policy is revoked through the settings its grant recorded,
    // guarded by the accounts the policy in force protects.
    (settings) => createProvider(settings, variables, { ...services, guard: providerGuard(source.policy, settings.type) }),
  );
  return { source, targetLocks };
}

export interface StartJobsOptions {
  latch: Latch;
  queues: JobQueues;
  /** One provider per resource id, asked on every use: a reloaded policy brings its own providers. */
  providers: Pick<PolicySource['providers'], 'get'> & Partial<Pick<PolicySource['providers'], 'fromSettings'>>;
  databaseUrl: string;
  logger: Logger;
  /** Revocation lateness and failed job attempts (LatchMetrics). */
  metrics?: AccessJobMetrics | undefined;
  /** Every registered job unless told (a test harness runs only the grants and revocations). */
  definitions?: readonly JobDefinition[];
}

/**
 * The worker side (`latch start`, `latch worker`): the job context from the Slack app's use-case
 * context, whose events reach the notifier in this process (a job is where notices end up, never
 * queued again), with this process's access locks, then every registered job
 * (jobs/job-runner.ts). The locks close after the jobs.
 *
 * The exception is the revoke job: when this process runs the notify jobs (every `latch worker`
 * does), what a revocation publishes is queued as one (QueuedNotices), so its slot is free for the
 * next revocation as soon as the access is gone and recorded, however slowly Slack answers.
 */
export async function startJobs(options: StartJobsOptions): Promise<RunningJobs> {
  const { latch, queues, providers, logger } = options;
  // One connection for each grant and each revocation that can run at once: each holds its lock's.
  const locks = new PostgresAccessLocks({ databaseUrl: options.databaseUrl, poolSize: queues.settings.concurrency + queues.settings.revokeConcurrency });
  const access: AccessContext = {
    ...latch.services,
    events: latch.notifier,
    providerFor: (resourceId) => providers.get(resourceId),
    providerForSettings: async (settings) => providers.fromSettings?.(settings),
    locks,
  };
  // A revocation's notices are queued (a notify job, which this process runs too) rather than sent
  // from its worker slot: revocations a second must not wait on Slack's answers and rate limits.
  const runsNotices = (options.definitions ?? JOB_REGISTRY).includes(notifyPeopleJob);
  const revocationNotices = runsNotices ? new QueuedNotices(queues, latch.services.db, latch.notifier) : undefined;
  const context = { access, metrics: options.metrics, logger, revocationNotices };
  const jobs = await runJobs({ queues, context, ...(options.definitions ? { definitions: options.definitions } : {}) }).catch(async (error: unknown) => {
    await locks.close();
    throw error;
  });
  let abandoned = false;
  return {
    ...jobs,
    async abandon() {
      abandoned = true;
      await jobs.abandon();
    },
    async close() {
      await jobs.close();
      // Jobs let go of may still hold their access lock: do not wait for them.
      await locks.close({ force: abandoned });
    },
    async stop() {
      await jobs.stop();
      await locks.close();
    },
  };
}
