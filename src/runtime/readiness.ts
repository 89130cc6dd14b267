import { redisAnswers, type RedisClient } from '../jobs/redis-connection.ts';
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

export interface ReadinessDeps {
  db: Database;
  redis: RedisClient;
  /** On a Redis Cluster, the node serving this prefix's slot is the one that must answer. */
  queuePrefix?: string;
  policyVersion: () => string | undefined;
  /** Socket Mode's connection state; null or absent over HTTP, where there is nothing to report. */
  slackSocket?: () => SocketState | null;
}

/**
 * What `GET /readyz` reports: PostgreSQL reachable with every migration applied, Redis reachable,
 * a policy loaded, and in Socket Mode the connection to Slack open. A load balancer stops sending
 * Slack's requests to an instance that is not ready.
 */
export async function checkReadiness(deps: ReadinessDeps): Promise<Readiness> {
  const [database, redis] = await Promise.all([
    bounded(async () => {
      const pending = await findPendingMigrations(deps.db);
      return pending.length === 0 ? 'ok' : `${pending.length} migration(s) not applied`;
    }),
    bounded(async () => ((await redisAnswers(deps.redis, deps.queuePrefix ?? 'latch')) ? 'ok' : 'unexpected answer to PING')),
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
  return withTimeout(check().catch(() => 'unreachable'), CHECK_TIMEOUT_MS, () => `no answer within ${CHECK_TIMEOUT_MS} ms`);
}
