import { serviceEnvSchema, type ServiceEnv } from '../../config/env.ts';
import { loadPolicyFile } from '../../config/policy-file.ts';
import type { Policy } from '../../domain/policy.ts';
import { JOB_QUEUES } from '../../jobs/job-queue-specs.ts';
import { JobQueues } from '../../jobs/job-queues.ts';
import { createProvider, createProviders, providerGuard } from '../../providers/registry.ts';
import type { AccessProvider } from '../../providers/provider.ts';
import { startJobs } from '../../runtime/start-jobs.ts';
import { createRedisConnection, describeRedisError, redisModeProblem } from '../../jobs/redis-connection.ts';
import { splitRedisUrls } from '../../config/redis-cluster.ts';
import { createLogger, type Logger } from '../../logging/logger.ts';
import { LatchMetrics } from '../../metrics/latch-metrics.ts';
import { passwordOf } from '../../logging/secret-scrubber.ts';
import { createLatch, type LatchOptions } from '../../runtime/create-latch.ts';
import { PolicySource } from '../../runtime/policy-source.ts';
import { readinessCheck } from '../../runtime/readiness.ts';
import { finishingPart, GracefulShutdown } from '../../runtime/graceful-shutdown.ts';
import { servingPart } from '../../runtime/serving-part.ts';
import { withTimeout } from '../../runtime/with-timeout.ts';
import { portOf, startHttpServer } from '../../slack/http-server.ts';
import { RedisSeenSignatures } from '../../slack/seen-signatures.ts';
import { SlackIdentityError } from '../../slack/app-origin.ts';
import { createDatabase } from '../../store/database.ts';
import { PostgresTargetLocks } from '../../store/target-lock.ts';
import type { ProviderServices } from '../../providers/target-lock.ts';
import { findPendingMigrations } from '../../store/migration-status.ts';
import { CliError, EXIT } from '../cli-error.ts';
import { readEnv } from '../read-env.ts';
import { connectSlack } from '../slack-connection.ts';

const SLACK_CHECK_TIMEOUT_MS = 30_000;

/**
 * `latch start`: checks everything it depends on (a valid policy, PostgreSQL migrated, Redis
 * reachable, the bot token accepted by Slack) before it takes a single request, so a
 * misconfigured deployment fails at once with one line per problem, not later in front of a user.
 * Then it serves Slack and runs the jobs (grants, revocations, sweeps, digests).
 */
export async function startCommand(role: ProcessRole = 'all', testOnly: TestOnlySettings = {}): Promise<void> {
  const env = readEnv(serviceEnvSchema);
  const logger = createLogger({
    level: env.LOG_LEVEL,
    secrets: [
      env.SLACK_BOT_TOKEN,
      env.SLACK_SIGNING_SECRET,
      env.SLACK_APP_TOKEN,
      passwordOf(env.DATABASE_URL),
      ...splitRedisUrls(env.REDIS_URL).map(passwordOf),
    ],
  });
  const policy = await readPolicy(env.LATCH_POLICY_FILE);
  logger.info({ policyVersion: policy.version, resources: policy.resources.length }, `policy loaded from ${env.LATCH_POLICY_FILE}`);
  // Lent to every provider, those of a reloaded policy too. Its connections open on first use: a
  // `latch web`, which grants nothing, never opens one.
  const targetLocks = new PostgresTargetLocks({ databaseUrl: env.DATABASE_URL });
  const services: ProviderServices = { locks: targetLocks };
  const providers = await buildProviders(policy, env.LATCH_POLICY_FILE, services).catch(async (error: unknown) => {
    await targetLocks.close();
    throw error;
  });
  const source = new PolicySource(
    env.LATCH_POLICY_FILE,
    { policy, providers },
    (next) => createProviders(next, process.env, services),
    logger,
    // Access granted under an earlier policy is revoked through the settings its grant recorded,
    // guarded by the accounts the policy in force protects.
    (settings) => createProvider(settings, process.env, { ...services, guard: providerGuard(source.policy, settings.type) }),
  );
  const service = await startService(env, source, logger, role, targetLocks, testOnly);
  // SIGTERM or SIGINT: see GracefulShutdown (a second one exits at once). Handled before Latch
  // says it listens, so a supervisor that stops it as soon as it has started gets a clean stop.
  const stopped = service.shutdown.onSignals();
  logger.info({ port: service.port, role }, `latch is listening on port ${service.port}`);
  const complete = await stopped;
  if (!complete) {
    throw new CliError(`stopped after ${env.LATCH_SHUTDOWN_TIMEOUT_SECONDS} s (LATCH_SHUTDOWN_TIMEOUT_SECONDS) with work still running; it is left to be retried`, EXIT.failure);
  }
}

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

interface RunningService {
  port: number;
  shutdown: GracefulShutdown;
}

/** The policy file, or a CliError with one line per mistake, each naming the field's path. */
async function readPolicy(path: string): Promise<Policy> {
  const loaded = await loadPolicyFile(path);
  if (loaded.ok) return loaded.policy;
  throw new CliError(
    [`the policy file ${path} has ${loaded.problems.length} problem(s):`, ...loaded.problems.map((problem) => `  ${problem}`)].join('\n'),
    EXIT.config,
  );
}

/**
 * One provider per resource, from the policy's settings and the environment: a missing variable
 * or a bad setting stops the start with every problem named, before anything is granted.
 */
async function buildProviders(policy: Policy, path: string, services: ProviderServices): Promise<Map<string, AccessProvider>> {
  const built = await createProviders(policy, process.env, services);
  if (built.ok) return built.providers;
  throw new CliError(
    [`the providers in the policy file ${path} have ${built.problems.length} problem(s):`, ...built.problems.map((problem) => `  ${problem}`)].join('\n'),
    EXIT.config,
  );
}

async function startService(env: ServiceEnv, source: PolicySource, logger: Logger, role: ProcessRole, targetLocks: PostgresTargetLocks, testOnly: TestOnlySettings): Promise<RunningService> {
  const db = createDatabase({ databaseUrl: env.DATABASE_URL });
  // Every connection to Redis, its queues' and workers' too: one Redis or a cluster, one key prefix.
  const redisTarget = { redisUrl: env.REDIS_URL, redisCluster: env.REDIS_CLUSTER, prefix: env.LATCH_QUEUE_PREFIX };
  const redis = createRedisConnection(env.REDIS_URL, 'queue', logger, { cluster: env.REDIS_CLUSTER });
  // Parts in the order they start; they close in the reverse order (see GracefulShutdown).
  const shutdown = new GracefulShutdown({ logger, timeoutMs: env.LATCH_SHUTDOWN_TIMEOUT_SECONDS * 1000 });
  shutdown.add({ name: 'PostgreSQL', close: () => db.$disconnect() });
  // Closed after the workers (parts close last opened first): a lock still held then belongs to
  // work already let go of, and ending its connection releases it.
  shutdown.add({ name: 'the target locks', close: () => targetLocks.close({ force: true }) });
  shutdown.add({ name: 'Redis', close: () => redis.quit().catch(() => redis.disconnect()) });
  shutdown.add({ name: 'the policy', close: () => source.close() });
  try {
    await checkDatabase(db);
    await checkRedis(redis);
    // Only once Redis answers: a queue's connection would otherwise log every failed retry.
    const queues = new JobQueues({ ...redisTarget, logger });
    shutdown.add({ name: 'the job queues', close: () => queues.close() });
    // Every role reports the same gauges from PostgreSQL and Redis, and counts what it does itself.
    const metrics = new LatchMetrics({ db, queues: [queues.queue(JOB_QUEUES.grants), queues.queue(JOB_QUEUES.revocations)], logger });
    const latch = createLatch({
      db,
      access: queues,
      policy: () => source.policy,
      logger,
      botToken: env.SLACK_BOT_TOKEN,
      signingSecret: env.SLACK_SIGNING_SECRET,
      // A worker takes nothing from Slack, so it never opens a Socket Mode connection.
      appToken: role !== 'worker' ? env.SLACK_APP_TOKEN : undefined,
      slackApiUrl: env.SLACK_API_URL,
      metrics,
      maxListenerWork: env.LATCH_MAX_SLACK_WORK,
      // Under the queues' prefix: every `latch web` sharing this Redis sees what the others took.
      seenSignatures: new RedisSeenSignatures(redis, env.LATCH_QUEUE_PREFIX),
      providers: source.providers,
      ...testOnly,
    });
    const { transport } = latch;
    await checkSlack(() => latch.init(), env.SLACK_API_URL);
    // `latch web` only enqueues; the other roles run every registered job (src/jobs/job-registry.ts).
    if (role !== 'web') {
      const jobs = await startJobs({ latch, queues, providers: source.providers, databaseUrl: env.DATABASE_URL, logger, metrics });
      shutdown.add(finishingPart('the jobs', jobs));
    }
    const server = await startHttpServer({
      port: env.PORT,
      ...(role !== 'worker' ? { slack: transport.requestListener } : {}),
      readiness: readinessCheck({ db, redis, queuePrefix: env.LATCH_QUEUE_PREFIX, policyVersion: () => source.policy.version, slackSocket: () => transport.socketState() }),
      metrics: () => metrics.scrape(),
      logger,
    }).catch(
      (error: NodeJS.ErrnoException) => {
        throw new CliError(`cannot listen on PORT ${env.PORT}: ${error.code ?? error.message}`, EXIT.unavailable);
      },
    );
    shutdown.add(servingPart(server, latch.listenerWork));
    // Socket Mode: Slack's events arrive once the connection opens. At shutdown it closes first, so
    // Slack sends new events to the app's other connections while the work in hand finishes.
    await connectSlack(transport);
    shutdown.add({ name: 'the Slack socket', stopTaking: () => void transport.disconnect().catch(() => undefined) });
    // SIGHUP or a saved change of the file: a valid policy replaces the one in force, an invalid one is refused.
    const stopWatching = source.watch();
    shutdown.add({ name: 'the policy watcher', stopTaking: stopWatching });
    return { port: portOf(server), shutdown };
  } catch (error) {
    await shutdown.run('start-up failed');
    throw error;
  }
}

async function checkDatabase(db: ReturnType<typeof createDatabase>): Promise<void> {
  let pending: string[];
  try {
    pending = await findPendingMigrations(db);
  } catch (error) {
    throw new CliError(`cannot reach PostgreSQL at DATABASE_URL: ${messageOf(error)}`, EXIT.unavailable);
  }
  if (pending.length > 0) {
    throw new CliError(
      `the database at DATABASE_URL is missing ${pending.length} migration(s) (${pending.join(', ')}): run \`latch migrate\` first`,
      EXIT.unavailable,
    );
  }
}

async function checkRedis(redis: ReturnType<typeof createRedisConnection>): Promise<void> {
  // connect() rejects with a bare "Connection is closed"; the error event says why.
  let cause: Error | undefined;
  const remember = (error: Error) => (cause ??= error);
  redis.on('error', remember);
  let modeProblem: string | undefined;
  try {
    await redis.connect();
    await redis.ping();
    modeProblem = await redisModeProblem(redis);
  } catch (error) {
    const reason = cause ?? error;
    throw new CliError(`cannot reach Redis at REDIS_URL: ${reason instanceof Error ? describeRedisError(reason) : messageOf(reason)}`, EXIT.unavailable);
  } finally {
    redis.off('error', remember);
  }
  if (modeProblem) throw new CliError(`REDIS_URL ${modeProblem}`, EXIT.config);
}

async function checkSlack(init: () => Promise<void>, apiUrl: string | undefined): Promise<void> {
  try {
    await withTimeout(init(), SLACK_CHECK_TIMEOUT_MS, () => {
      throw new CliError(`Slack's Web API (${apiUrl ?? 'https://slack.com/api/'}) did not answer within ${SLACK_CHECK_TIMEOUT_MS / 1000} s`, EXIT.unavailable);
    });
  } catch (error) {
    if (error instanceof CliError) throw error;
    const slackError = (error as { data?: { error?: string } }).data?.error;
    const method = error instanceof SlackIdentityError ? error.method : 'auth.test';
    const hint = method === 'bots.info' && slackError === 'missing_scope' ? ': the bot token needs users:read, as the manifests ask' : '';
    if (slackError) throw new CliError(`SLACK_BOT_TOKEN was refused by Slack (${method}: ${slackError})${hint}`, EXIT.config);
    if (error instanceof SlackIdentityError) throw new CliError(`cannot learn which Slack workspace and app Latch is: ${error.message}`, EXIT.config);
    throw new CliError(`cannot reach Slack's Web API: ${messageOf(error)}`, EXIT.unavailable);
  }
}

/** An error's message on one line: Prisma's span several, led by an "Invalid … invocation" line. */
function messageOf(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return messageOf(error.errors[0]);
  const message = error instanceof Error ? error.message : String(error);
  return message
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !/^Invalid `.*` invocation/.test(line))
    .join(' ');
}
