import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { inject } from 'vitest';
import { RedisSeenSignatures } from '../../src/slack/seen-signatures.ts';

/**
 * The replay memory an in-process Latch uses over HTTP, on the test Redis under a prefix of its
 * own (as `latch start` keeps it under its queue prefix). `close` ends its connection.
 */
export function testSeenSignatures(): { seen: RedisSeenSignatures; close(): Promise<void> } {
  const redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: 1 });
  return {
    seen: new RedisSeenSignatures(redis, `latch-test-${randomBytes(4).toString('hex')}`),
    close: async () => void (await redis.quit().catch(() => redis.disconnect())),
  };
}
