import { Redis } from 'ioredis';

export type RedisRole = 'queue' | 'worker';

/**
 * A Redis connection for BullMQ. Queue connections fail fast while Redis is down
 * (enableOfflineQueue: false) so a request handler reports the problem instead of hanging;
 * worker connections must retry forever (maxRetriesPerRequest: null), as BullMQ requires.
 */
export function createRedisConnection(redisUrl: string, role: RedisRole): Redis {
  return new Redis(redisUrl, {
    maxRetriesPerRequest: role === 'worker' ? null : 1,
    enableOfflineQueue: role === 'worker',
    connectionName: `latch-${role}`,
    lazyConnect: true,
  });
}
