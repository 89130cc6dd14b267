import type { FetchFunction, WebClient } from '@slack/web-api';
import type { Logger } from '../logging/logger.ts';
import type { GroupDirectory } from '../services/service-context.ts';
import { SlackWebClient } from './slack-web-client.ts';

/** How long a user group's member list is trusted before Slack is asked again. */
const DEFAULT_TTL_MS = 60_000;

/**
 * User group membership from Slack (`usergroups.users.list`), cached per group for a minute, so
 * a click or a modal does not wait on one API call per group. A membership change in Slack takes
 * effect within the TTL. A group Slack cannot list counts as having no members (not as its last
 * known members): refusing is the safe failure for a security tool.
 */
export class SlackUsergroupDirectory implements GroupDirectory {
  /**
   * A client for lookups made while Slack waits for an ack (3 seconds): no retries, no sleeping
   * through a 429's Retry-After, a short timeout. A lookup that cannot finish in time fails closed.
   * `fetch`: the Slack app's (SlackApp.slackFetch), so these calls share its connections and metrics.
   */
  static fastClient(botToken: string, slackApiUrl?: string, fetch?: FetchFunction): WebClient {
    return new SlackWebClient(botToken, {
      ...(slackApiUrl ? { slackApiUrl } : {}),
      ...(fetch ? { fetch } : {}),
      retryConfig: { retries: 0 },
      rejectRateLimitedCalls: true,
      timeout: 2_000,
    });
  }

  private readonly cache = new Map<string, { members: Set<string>; fetchedAt: number }>();

  constructor(
    private readonly client: WebClient,
    private readonly logger: Logger,
    private readonly ttlMs = DEFAULT_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  async memberGroups(userId: string, groups: readonly string[]): Promise<Set<string>> {
    const memberships = await Promise.all(groups.map(async (group) => [group, await this.members(group)] as const));
    return new Set(memberships.filter(([, members]) => members.has(userId)).map(([group]) => group));
  }

  private async members(group: string): Promise<Set<string>> {
    const cached = this.cache.get(group);
    if (cached && this.now() - cached.fetchedAt < this.ttlMs) return cached.members;
    try {
      const response = await this.client.usergroups.users.list({ usergroup: group });
      const members = new Set(response.users ?? []);
      this.cache.set(group, { members, fetchedAt: this.now() });
      return members;
    } catch (error) {
      this.logger.warn({ err: error, usergroup: group }, 'cannot list user group members; treating it as empty');
      return new Set();
    }
  }
}
