import { deciderAccountRefusal } from '../domain/identity.ts';
import { refuse, type Refused } from './refusal.ts';
import { readSlackProfile } from './requester-principal.ts';
import type { ServiceContext } from './service-context.ts';

/**
 * Why the Slack account of someone deciding for others (approving, denying, reviewing, revoking)
 * may not, or null: the policy names people by id, and an id in an approver group may still be a
 * guest's, a deactivated account's or another workspace's. Read through the user directory, which
 * caches profiles, so a person who decided a moment ago costs no call to Slack. When Slack cannot
 * say, the decision is refused with a "try again": never let through unchecked.
 */
export async function deciderAccountRefused(ctx: ServiceContext, deciderId: string): Promise<Refused | null> {
  const profile = await readSlackProfile(ctx, deciderId);
  if (!profile.ok) return profile;
  const refused = deciderAccountRefusal(profile.profile.account);
  return refused ? refuse('account_refused', refused) : null;
}
