import { Redis } from 'ioredis';
import type { Logger } from '../logging/logger.ts';

export type RedisRole = 'queue' | 'worker';

/**
 * A Redis connection for BullMQ. Queue connections fail fast while Redis is down
 * (enableOfflineQueue: false) so a request handler reports the problem instead of hanging;
 * worker connections must retry forever (maxRetriesPerRequest: null), as BullMQ requires.
 * Connection errors go to the log: ioredis prints a stack trace to stderr for any it cannot emit.
 */
export function createRedisConnection(redisUrl: string, role: RedisRole, logger: Logger): Redis {
  const redis = new Redis(redisUrl, {
    maxRetriesPerRequest: role === 'worker' ? null : 1,
    enableOfflineQueue: role === 'worker',
    connectionName: `latch-${role}`,
    lazyConnect: true,
  });
  redis.on('error', (error: Error) => logger.warn({ err: error, redis: role }, `redis connection error: ${error.message}`));
  return redis;
}
