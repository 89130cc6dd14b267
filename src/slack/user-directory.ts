import type { WebClient } from '@slack/web-api';
import type { SlackProfile } from '../domain/identity.ts';
import type { Logger } from '../logging/logger.ts';
import type { UserDirectory } from '../services/service-context.ts';

const DEFAULT_TTL_MS = 10 * 60_000;

/**
 * People's Slack profiles (users.info), cached for ten minutes: the email an identity template
 * reads changes rarely. Use a client that fails fast (SlackUsergroupDirectory.fastClient): the
 * lookup happens before an ack. A profile Slack will not give is `null`, and the request is refused.
 */
export class SlackUserDirectory implements UserDirectory {
  private readonly cache = new Map<string, { profile: SlackProfile; fetchedAt: number }>();

  constructor(
    private readonly client: WebClient,
    private readonly logger: Logger,
    private readonly ttlMs = DEFAULT_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  async profile(userId: string): Promise<SlackProfile | null> {
    const cached = this.cache.get(userId);
    if (cached && this.now() - cached.fetchedAt < this.ttlMs) return cached.profile;
    try {
      const { user } = await this.client.users.info({ user: userId });
      const profile: SlackProfile = { id: userId, email: user?.profile?.email };
      this.cache.set(userId, { profile, fetchedAt: this.now() });
      return profile;
    } catch (error) {
      this.logger.warn({ err: error, user: userId }, 'cannot read a Slack profile');
      return null;
    }
  }
}
