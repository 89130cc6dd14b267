import { serviceEnvSchema } from '../../config/env.ts';
import { loadPolicyFile } from '../../config/policy-file.ts';
import type { Policy } from '../../domain/policy.ts';
import { createRedisConnection, describeRedisError, redisModeProblem } from '../../jobs/redis-connection.ts';
import { splitRedisUrls } from '../../config/redis-cluster.ts';
import { createLogger } from '../../logging/logger.ts';
import { startTracing } from '../../observability/start-tracing.ts';
import { passwordOf } from '../../logging/secret-scrubber.ts';
import type { ProvidersResult } from '../../providers/registry.ts';
import type { AccessProvider } from '../../providers/provider.ts';
import { startLatchProcess, type ProcessRole, type StartChecks, type TestOnlySettings } from '../../runtime/wiring.ts';
import { withTimeout } from '../../runtime/with-timeout.ts';
import { SlackIdentityError } from '../../slack/app-origin.ts';
import { SlackConnectionError, type SlackTransport } from '../../slack/slack-transport.ts';
import type { createDatabase } from '../../store/database.ts';
import { findPendingMigrations } from '../../store/migration-status.ts';
import { CliError, EXIT } from '../cli-error.ts';
import { readEnv } from '../read-env.ts';

const SLACK_CHECK_TIMEOUT_MS = 30_000;

/**
 * `latch start`: checks everything it depends on (a valid policy, PostgreSQL migrated, Redis
 * reachable, the bot token accepted by Slack) before it takes a single request, so a
 * misconfigured deployment fails at once with one line per problem, not later in front of a user.
 * Then it serves Slack and runs the jobs (grants, revocations, sweeps, digests): what each role
 * builds, and in which order, is src/runtime/wiring.ts.
 */
export async function startCommand(role: ProcessRole = 'all', testOnly: TestOnlySettings = {}): Promise<void> {
  const env = readEnv(serviceEnvSchema);
  const logger = createLogger({
    level: env.LOG_LEVEL,
    secrets: [
      env.SLACK_BOT_TOKEN,
      env.SLACK_SIGNING_SECRET,
      env.SLACK_APP_TOKEN,
      env.PAGERDUTY_API_KEY,
      env.OPSGENIE_API_KEY,
      passwordOf(env.DATABASE_URL),
      ...splitRedisUrls(env.REDIS_URL).map(passwordOf),
    ],
  });
  // Before anything that makes spans is built; off (and the SDK not loaded) unless OTEL_* ask for it.
  const started = await startTracing(process.env, role, logger);
  if (!started.ok) throw new CliError(started.problems.join('\n'), EXIT.config);
  const policy = await readPolicy(env.LATCH_POLICY_FILE);
  logger.info({ policyVersion: policy.version, resources: policy.resources.length }, `policy loaded from ${env.LATCH_POLICY_FILE}`);
  const checks: StartChecks = {
    providers: (built) => checkProviders(built, env.LATCH_POLICY_FILE),
    database: checkDatabase,
    redis: checkRedis,
    slack: (init) => checkSlack(init, env.SLACK_API_URL),
    listenFailed: (error) => {
      throw new CliError(`cannot listen on PORT ${env.PORT}: ${error.code ?? error.message}`, EXIT.unavailable);
    },
    socketMode: checkSocketMode,
  };
  const service = await startLatchProcess({ role, env, variables: process.env, policy, logger, checks, testOnly, tracing: started.tracing });
  // SIGTERM or SIGINT: see GracefulShutdown (a second one exits at once). Handled before Latch
  // says it listens, so a supervisor that stops it as soon as it has started gets a clean stop.
  const stopped = service.shutdown.onSignals();
  logger.info({ port: service.port, role }, `latch is listening on port ${service.port}`);
  const complete = await stopped;
  if (!complete) {
    throw new CliError(`stopped after ${env.LATCH_SHUTDOWN_TIMEOUT_SECONDS} s (LATCH_SHUTDOWN_TIMEOUT_SECONDS) with work still running; it is left to be retried`, EXIT.failure);
  }
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
function checkProviders(built: ProvidersResult, path: string): Map<string, AccessProvider> {
  if (built.ok) return built.providers;
  throw new CliError(
    [`the providers in the policy file ${path} have ${built.problems.length} problem(s):`, ...built.problems.map((problem) => `  ${problem}`)].join('\n'),
    EXIT.config,
  );
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

/**
 * Opens the Slack transport's connection (Socket Mode; nothing to do over HTTP) before the
 * process reports itself started: a refused app token stops start-up with one line saying why.
 */
async function checkSocketMode(transport: SlackTransport): Promise<void> {
  try {
    await transport.connect();
  } catch (error) {
    if (error instanceof SlackConnectionError) throw new CliError(error.message, error.reason === 'refused' ? EXIT.config : EXIT.unavailable);
    throw error;
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
