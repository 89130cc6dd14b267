import type { WebClient } from '@slack/web-api';
import type { SlackAccount, SlackProfile } from '../domain/identity.ts';
import type { Logger } from '../logging/logger.ts';
import type { UserDirectory } from '../services/service-context.ts';

const DEFAULT_TTL_MS = 10 * 60_000;

/** The parts of users.info's user object Latch reads. */
interface SlackUser {
  team_id?: string;
  deleted?: boolean;
  is_bot?: boolean;
  is_app_user?: boolean;
  is_restricted?: boolean;
  is_ultra_restricted?: boolean;
  is_email_confirmed?: boolean;
  profile?: { email?: string };
}

/**
 * People's Slack profiles (users.info), cached for ten minutes: the email an identity template
 * reads changes rarely. Use a client that fails fast (SlackUsergroupDirectory.fastClient): the
 * lookup happens before an ack. A profile Slack will not give is `null`, and the request is refused.
 *
 * A fact Slack leaves out counts as the answer that refuses (no `is_email_confirmed` is an
 * unconfirmed email), and a user whose `team_id` is not Latch's workspace (learned at start, see
 * AppOriginCheck) is another organisation's, e.g. a Slack Connect guest.
 */
export class SlackUserDirectory implements UserDirectory {
  private readonly cache = new Map<string, { profile: SlackProfile; fetchedAt: number }>();

  constructor(
    private readonly client: WebClient,
    /** Latch's own workspace, once known: no profile is read before it is. */
    private readonly latchTeamId: () => string | null,
    private readonly logger: Logger,
    private readonly ttlMs = DEFAULT_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  async profile(userId: string): Promise<SlackProfile | null> {
    const cached = this.cache.get(userId);
    if (cached && this.now() - cached.fetchedAt < this.ttlMs) return cached.profile;
    const latchTeamId = this.latchTeamId();
    if (!latchTeamId) {
      this.logger.warn({ user: userId }, 'cannot judge a Slack profile before Latch knows its own workspace');
      return null;
    }
    try {
      const { user } = await this.client.users.info({ user: userId });
      if (!user) return null;
      const profile: SlackProfile = { id: userId, email: user.profile?.email, account: accountOf(user, latchTeamId) };
      this.cache.set(userId, { profile, fetchedAt: this.now() });
      return profile;
    } catch (error) {
      this.logger.warn({ err: error, user: userId }, 'cannot read a Slack profile');
      return null;
    }
  }

}

function accountOf(user: SlackUser, latchTeamId: string): SlackAccount {
  return {
    deleted: user.deleted !== false,
    bot: user.is_bot !== false || user.is_app_user === true,
    guest: user.is_restricted === true || user.is_ultra_restricted === true,
    emailConfirmed: user.is_email_confirmed === true,
    ofLatchTeam: user.team_id === latchTeamId,
  };
}
