import { Cluster, Redis } from 'ioredis';
import { redisClusterSeedsOf } from '../config/redis-cluster.ts';
import type { Logger } from '../logging/logger.ts';

export type RedisRole = 'queue' | 'worker';

/** A Redis or a Redis Cluster: BullMQ takes either as its connection. */
export type RedisClient = Redis | Cluster;

export interface RedisConnectionOptions {
  /** REDIS_URL names the seed nodes of a Redis Cluster (REDIS_CLUSTER=true). */
  cluster?: boolean | undefined;
}

/**
 * A Redis connection for BullMQ. Queue connections fail fast while Redis is down
 * (enableOfflineQueue: false) so a request handler reports the problem instead of hanging;
 * worker connections must retry forever (maxRetriesPerRequest: null), as BullMQ requires.
 * Connection errors go to the log: ioredis prints a stack trace to stderr for any it cannot emit.
 */
export function createRedisConnection(redisUrl: string, role: RedisRole, logger: Logger, options: RedisConnectionOptions = {}): RedisClient {
  const perCommand = { maxRetriesPerRequest: role === 'worker' ? null : 1, connectionName: `latch-${role}` };
  const redis = options.cluster
    ? createCluster(redisUrl, role, perCommand)
    : new Redis(redisUrl, { ...perCommand, enableOfflineQueue: role === 'worker', lazyConnect: true });
  redis.on('error', (error: Error) => logger.warn({ err: error, redis: role }, `redis connection error: ${describeRedisError(error)}`));
  return redis;
}

/**
 * The cluster client connects to each node it learns of by address alone, with `redisOptions`:
 * the credentials and TLS go there, not in the seeds. BullMQ reads maxRetriesPerRequest from
 * `redisOptions` too, and refuses a worker connection where it is not null.
 */
function createCluster(redisUrl: string, role: RedisRole, perCommand: { maxRetriesPerRequest: number | null; connectionName: string }): Cluster {
  const seeds = redisClusterSeedsOf(redisUrl);
  return new Cluster(seeds.nodes, {
    lazyConnect: true,
    enableOfflineQueue: role === 'worker',
    redisOptions: {
      ...perCommand,
      ...(seeds.username ? { username: seeds.username } : {}),
      ...(seeds.password ? { password: seeds.password } : {}),
      ...(seeds.tls ? { tls: {} } : {}),
    },
    // With TLS, keep the host name rather than its address, so certificates naming the host
    // (ElastiCache's, for one) are accepted; the socket resolves it anyway.
    ...(seeds.tls ? { dnsLookup: (address: string, callback: (error: Error | null, address: string) => void) => callback(null, address) } : {}),
  });
}

/**
 * Whether Redis answers where Latch's queues live. A cluster's PING goes to any node, so there
 * a read of a key under the queues' prefix (and so in their slot) asks the node that serves
 * the slot, and fails while the cluster is down (CLUSTERDOWN) or that node is unreachable.
 */
export async function redisAnswers(redis: RedisClient, queuePrefix: string): Promise<boolean> {
  if (redis instanceof Cluster) {
    await redis.exists(`${queuePrefix}:readiness`);
    return true;
  }
  return (await redis.ping()) === 'PONG';
}

/**
 * Whether the Redis that answered is of the kind REDIS_CLUSTER says, as the end of a line that
 * starts with "REDIS_URL", or undefined when it is. A standalone client on a cluster node works
 * until a key lives on another node (MOVED); a cluster client on a plain Redis cannot start.
 */
export async function redisModeProblem(redis: RedisClient): Promise<string | undefined> {
  if (redis instanceof Cluster) return undefined;
  // A managed Redis may refuse INFO to Latch's user: then there is nothing to tell.
  const info = await redis.info('cluster').catch(() => '');
  if (/cluster_enabled:1/.test(info)) {
    return 'is a node of a Redis Cluster: set REDIS_CLUSTER=true and a LATCH_QUEUE_PREFIX with a hash tag, e.g. {latch}';
  }
  return undefined;
}

/**
 * An error's own message, or for a cluster client that could not reach any node ("Failed to
 * refresh slots cache."), the last node's error too, which says why (refused, not a cluster, …).
 */
export function describeRedisError(error: Error): string {
  const lastNodeError = (error as Error & { lastNodeError?: Error }).lastNodeError;
  return lastNodeError ? `${error.message.replace(/\.$/, '')} (${describeRedisError(lastNodeError)})` : error.message;
}
