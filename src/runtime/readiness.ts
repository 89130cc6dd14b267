import { redisAnswers, type RedisClient } from '../jobs/redis-connection.ts';
import { createSecretScrubber } from '../logging/secret-scrubber.ts';
import type { SocketState } from '../slack/slack-transport.ts';
import type { Database } from '../store/database.ts';
import { findPendingMigrations } from '../store/migration-status.ts';
import { withTimeout } from './with-timeout.ts';

export interface Readiness {
  ready: boolean;
  /** Each dependency: `ok`, or why not (no secrets: messages name the dependency, not its URL). */
  checks: Record<string, string>;
}

const CHECK_TIMEOUT_MS = 2_000;
/** ioredis's connection states, said for a person, for when there is no error to quote yet. */
const CONNECTION_STATES: Record<string, string> = {
  wait: 'not connected yet',
  connecting: 'connecting',
  connect: 'connecting',
  reconnecting: 'connection lost; reconnecting',
  close: 'connection lost',
  end: 'connection closed',
};
const MAX_REASON_LENGTH = 200;
// A probe's answer may travel further than the logs: a connection string quoted in an error
// loses its password here too.
const scrub = createSecretScrubber();

/**
 * `checkReadiness` over one Redis connection, remembering that connection's last error so a
 * probe says why Redis is unreachable (`connect ECONNREFUSED …`) rather than only that it is.
 */
export function readinessCheck(deps: Omit<ReadinessDeps, 'redisError'>): () => Promise<Readiness> {
  let lastError: string | null = null;
  deps.redis.on('error', (error: Error) => (lastError = reasonOf(error)));
  deps.redis.on('ready', () => (lastError = null));
  return () => checkReadiness({ ...deps, redisError: () => lastError });
}

export interface ReadinessDeps {
  db: Database;
  redis: RedisClient;
  /** On a Redis Cluster, the node serving this prefix's slot is the one that must answer. */
  queuePrefix?: string;
  policyVersion: () => string | undefined;
  /** Socket Mode's connection state; null or absent over HTTP, where there is nothing to report. */
  slackSocket?: () => SocketState | null;
  /** Why Redis last failed (its connection's last error), when it is not connected. */
  redisError?: () => string | null;
}

/**
 * What `GET /readyz` reports: PostgreSQL reachable with every migration applied, Redis reachable,
 * a policy loaded, and in Socket Mode the connection to Slack open. A load balancer stops sending
 * Slack's requests to an instance that is not ready. Each check answers within CHECK_TIMEOUT_MS: a
 * probe must not hang on a dependency that does.
 */
export async function checkReadiness(deps: ReadinessDeps): Promise<Readiness> {
  const [database, redis] = await Promise.all([
    bounded(async () => {
      const pending = await findPendingMigrations(deps.db);
      return pending.length === 0 ? 'ok' : `${pending.length} migration(s) not applied: run \`latch migrate\``;
    }),
    bounded(async () => {
      // Not connected: a command would fail at once (no offline queue); say why it is not.
      if (deps.redis.status !== 'ready') return `unreachable: ${deps.redisError?.() ?? CONNECTION_STATES[deps.redis.status] ?? `connection ${deps.redis.status}`}`;
      return (await redisAnswers(deps.redis, deps.queuePrefix ?? 'latch')) ? 'ok' : 'unexpected answer to PING';
    }),
  ]);
  const version = deps.policyVersion();
  const socket = deps.slackSocket?.() ?? null;
  const checks = {
    postgres: database,
    redis,
    policy: version ? 'ok' : 'not loaded',
    ...(socket ? { slackSocket: socket === 'connected' ? 'ok' : socket } : {}),
  };
  return { ready: Object.values(checks).every((value) => value === 'ok'), checks };
}

function bounded(check: () => Promise<string>): Promise<string> {
  return withTimeout(
    check().catch((error: unknown) => `unreachable: ${reasonOf(error)}`),
    CHECK_TIMEOUT_MS,
    () => `no answer within ${CHECK_TIMEOUT_MS} ms`,
  );
}

/** The first meaningful line of an error, shortened (Prisma's span several lines). */
function reasonOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const line = message
    .split('\n')
    .map((text) => text.trim())
    .find((text) => text && !/^Invalid `.*` invocation/.test(text));
  return scrub(line ?? 'unknown error').slice(0, MAX_REASON_LENGTH);
}
