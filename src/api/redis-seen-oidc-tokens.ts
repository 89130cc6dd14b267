import { createHash } from 'node:crypto';
import type { RedisClient } from '../jobs/redis-connection.ts';
import type { SeenOidcTokens } from '../services/exchange-oidc-token.ts';

/**
 * The OIDC tokens already exchanged, in Redis under the queues' prefix, so every `latch web`
 * behind a load balancer refuses a token another one took. `SET NX EX` decides atomically which
 * of two copies arriving at once is the first; the key lives as long as the token could be
 * accepted. Keyed by a hash of issuer and token id: a key's length is then fixed whatever the
 * token says.
 */
export class RedisSeenOidcTokens implements SeenOidcTokens {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  async firstSight(key: string, ttlSeconds: number): Promise<boolean> {
    const answer = await this.redis.set(`${this.prefix}:oidc-jti:${createHash('sha256').update(key).digest('hex')}`, '1', 'EX', ttlSeconds, 'NX');
    return answer === 'OK';
  }
}
