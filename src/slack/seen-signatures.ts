import type { RedisClient } from '../jobs/redis-connection.ts';

/**
 * Remembers the signatures of the Slack requests Latch has taken, so that one replayed (the same
 * bytes, captured and sent again) within the time its timestamp is accepted is not processed a
 * second time. Slack's own retries (`x-slack-retry-num`) carry a new timestamp and so a new
 * signature: they are not replays, and the handlers' idempotency deals with them.
 */
export interface SeenSignatures {
  /** True the first time `signature` is offered within `ttlSeconds`, false every later time. */
  firstSight(signature: string, ttlSeconds: number): Promise<boolean>;
}

/**
 * Kept in Redis, under the queues' prefix (one hash slot with a Redis Cluster's hash-tagged
 * prefix), so every `latch web` process behind a load balancer sees what the others took.
 * `SET NX EX` decides atomically which of two copies arriving at once is the first.
 */
export class RedisSeenSignatures implements SeenSignatures {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  async firstSight(signature: string, ttlSeconds: number): Promise<boolean> {
    const answer = await this.redis.set(`${this.prefix}:slack-signature:${signature}`, '1', 'EX', ttlSeconds, 'NX');
    return answer === 'OK';
  }
}
