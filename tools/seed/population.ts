import { resolvePrincipal, type SlackProfile } from '../../src/domain/identity.ts';
import { isInAudience, type Audience, type Policy, type ResourcePolicy } from '../../src/domain/policy.ts';
import type { GroupDirectory, UserDirectory } from '../../src/services/service-context.ts';

/**
 * The people of a seeded workspace, derived from the policy alone (nothing is asked of Slack):
 *
 * - every user the policy names (requesters, approvers, auto-approval and break-glass rules,
 *   security admins, identity maps) is a person;
 * - every user group it names gets members of its own, named after it: S0DBAS has U0DBAS01,
 *   U0DBAS02 and U0DBAS03 (synthetic ids, so they never collide with real people);
 * - someone an auto-approval rule of a resource names (directly or by group) is taken to be among
 *   that resource's requesters too: the rule's author meant it for people who may ask;
 * - a few more people (U0PERSON01…) exist for resources anyone may request.
 *
 * Everyone's Slack email is their id in lower case at example.com, which is what identity
 * templates (`{localpart}`, `{email}`) are filled from.
 */
export const MEMBERS_PER_GROUP = 3;
const OTHER_PEOPLE = 8;

export class SeedPopulation implements GroupDirectory, UserDirectory {
  /** Everyone, in a stable order. */
  readonly people: string[];
  private readonly members = new Map<string, Set<string>>();

  constructor(private readonly policy: Policy) {
    const named = new Set<string>();
    const groups = new Set<string>();
    const audience = (value: Audience) => {
      if (value.everyone) return;
      value.users.forEach((user) => named.add(user));
      value.groups.forEach((group) => groups.add(group));
    };
    for (const resource of policy.resources) {
      audience(resource.requesters);
      audience({ everyone: false, users: resource.approvers.users, groups: [...resource.approvers.groups, ...resource.approvers.oneFrom] });
      resource.autoApprove.forEach((rule) => audience(rule.requesters));
      if (resource.breakGlass) audience(resource.breakGlass.requesters);
      resource.reminders?.escalateTo.forEach((group) => groups.add(group));
      Object.keys(resource.identity.map).forEach((user) => named.add(user));
    }
    audience({ everyone: false, ...policy.security.admins });

    for (const group of [...groups].sort()) {
      const base = group.replace(/^S/, '');
      this.members.set(group, new Set(Array.from({ length: MEMBERS_PER_GROUP }, (_, i) => `U${base}${String(i + 1).padStart(2, '0')}`)));
    }
    // People an auto-approval rule names may request the resource: add them to its first requester group.
    for (const resource of policy.resources) {
      if (resource.requesters.everyone || resource.requesters.groups.length === 0) continue;
      const into = this.members.get(resource.requesters.groups[0]!)!;
      for (const rule of resource.autoApprove) {
        if (rule.requesters.everyone) continue;
        rule.requesters.users.forEach((user) => into.add(user));
        rule.requesters.groups.forEach((group) => this.members.get(group)?.forEach((user) => into.add(user)));
      }
    }
    const everyone = new Set<string>([...named, ...[...this.members.values()].flatMap((set) => [...set])]);
    for (let i = 1; i <= OTHER_PEOPLE; i++) everyone.add(`U0PERSON${String(i).padStart(2, '0')}`);
    this.people = [...everyone].sort();
  }

  groupsOf(userId: string): Set<string> {
    return new Set([...this.members].filter(([, members]) => members.has(userId)).map(([group]) => group));
  }

  membersOf(group: string): string[] {
    return [...(this.members.get(group) ?? [])].sort();
  }

  /** Everyone in `audience`, in a stable order. */
  audience(audience: Audience): string[] {
    return this.people.filter((person) => isInAudience(audience, person, this.groupsOf(person)));
  }

  /** Who may decide requests on `resource` (before the requester is excluded). */
  approversOf(resource: ResourcePolicy): string[] {
    return this.audience({ everyone: false, users: resource.approvers.users, groups: resource.approvers.groups });
  }

  /** Security admins, by name or by group. */
  securityAdmins(): string[] {
    return this.audience({ everyone: false, ...this.policy.security.admins });
  }

  /** The account `userId` would get on `resource`, or null when the identity rules refuse them. */
  principalOn(resource: ResourcePolicy, userId: string): string | null {
    const resolved = resolvePrincipal(resource.identity, resource.name, profileOf(userId));
    return resolved.ok ? resolved.principal : null;
  }

  // GroupDirectory
  async memberGroups(userId: string, groups: readonly string[]): Promise<Set<string>> {
    const mine = this.groupsOf(userId);
    return new Set(groups.filter((group) => mine.has(group)));
  }

  // UserDirectory
  async profile(userId: string): Promise<SlackProfile | null> {
    return profileOf(userId);
  }
}

function profileOf(userId: string): SlackProfile {
  // Everyone in the simulated workspace is an active member whose email Slack confirmed.
  return {
    id: userId,
    email: `${userId.toLowerCase()}@example.com`,
    account: { deleted: false, bot: false, guest: false, emailConfirmed: true, ofLatchTeam: true },
  };
}
