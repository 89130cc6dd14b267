import type { WebClient } from '@slack/web-api';
import type { SlackAccount, SlackProfile } from '../domain/identity.ts';
import type { Logger } from '../logging/logger.ts';
import type { UserDirectory } from '../services/service-context.ts';

const DEFAULT_TTL_MS = 10 * 60_000;
/** Profiles kept at most: a workspace's active requesters fit, and a flood of new ids cannot grow the process. */
const DEFAULT_MAX_PROFILES = 5_000;

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
 * What a cached profile can let through for up to the TTL, and why that is acceptable: a person
 * deactivated in Slack cannot send Slack anything to act on (Slack ends their sessions); an email
 * changed in Slack keeps resolving to the old, confirmed one, the account they were already
 * given, never to the new one before it is confirmed. A profile that refuses is cached too, so
 * refusals fail closed. At most `maxProfiles` are kept; the oldest read goes first.
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
    private readonly maxProfiles = DEFAULT_MAX_PROFILES,
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
      this.remember(userId, profile);
      return profile;
    } catch (error) {
      this.logger.warn({ err: error, user: userId }, 'cannot read a Slack profile');
      return null;
    }
  }

  /** Kept in the order read (a Map keeps insertion order), so the first entry is the oldest. */
  private remember(userId: string, profile: SlackProfile): void {
    this.cache.delete(userId);
    if (this.cache.size >= this.maxProfiles) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(userId, { profile, fetchedAt: this.now() });
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
