import type { IdentityPolicy, ResourcePolicy } from './policy.ts';

/** What Slack tells Latch about a person (users.info). */
export interface SlackProfile {
  id: string;
  email?: string | undefined;
  /** Whether the account may have access at all, whatever its identity would be. */
  account: SlackAccount;
}

/**
 * Slack's facts about an account that decide whether it is a person of this workspace. A source
 * that cannot tell gives the answer that refuses (a profile Slack did not describe is no person).
 */
export interface SlackAccount {
  /** Deactivated (`deleted`). */
  deleted: boolean;
  /** A bot or an app's user (`is_bot`, `is_app_user`): not a person. */
  bot: boolean;
  /** A multi-channel (`is_restricted`) or single-channel (`is_ultra_restricted`) guest. */
  guest: boolean;
  /** Slack has confirmed that the person owns the profile's email (`is_email_confirmed`). */
  emailConfirmed: boolean;
  /** The account's team (`team_id`) is the workspace Latch is installed in: not Slack Connect, not another team. */
  ofLatchTeam: boolean;
}

export type PrincipalResult = { ok: true; principal: string } | { ok: false; message: string };

const EMAIL = /^([^@\s]+)@([^@\s]+\.[^@\s]+)$/;

/** Whether an identity template keeps the email's domain in the principal (`{email}`, `{domain}`). */
export function templateKeepsDomain(template: string): boolean {
  return template.includes('{email}') || template.includes('{domain}');
}

/**
 * The principal a provider will grant to, for one Slack user on one resource. Refusals are fit to
 * show the requester: they are given when asking, not discovered when the grant fails later.
 *
 * A Slack profile's email is editable by its owner in many workspaces and says nothing by itself
 * about which account on a target is theirs: it decides an identity only when Slack confirmed it
 * and its domain is one the policy names (`identity.domains`). Accounts that are not people of
 * this workspace (deactivated, bots, guests unless allowed, another team's) get no identity at all,
 * not even through the policy's explicit map.
 */
export function resolvePrincipal(identity: IdentityPolicy, resourceName: string, profile: SlackProfile): PrincipalResult {
  const refused = accountRefusal(profile.account, identity, resourceName);
  if (refused) return { ok: false, message: refused };
  const mapped = identity.map[profile.id];
  if (mapped) return { ok: true, principal: mapped };
  switch (identity.from) {
    case 'slack-user-id':
      return { ok: true, principal: profile.id };
    case 'map-only':
      return { ok: false, message: `You have no account on ${resourceName} that Latch knows of: ask the policy's owners to map your Slack user.` };
    case 'email':
      return principalFromEmail(identity, resourceName, profile);
  }
}

function principalFromEmail(identity: IdentityPolicy, resourceName: string, profile: SlackProfile): PrincipalResult {
  const match = profile.email ? EMAIL.exec(profile.email) : null;
  if (!match) {
    return { ok: false, message: `Latch cannot tell who you are on ${resourceName}: your Slack profile shows no email address.` };
  }
  if (!profile.account.emailConfirmed) {
    return {
      ok: false,
      message: `Latch cannot tell who you are on ${resourceName}: Slack has not confirmed the email address on your profile. Confirm it in Slack, then ask again.`,
    };
  }
  const [email, localpart, domain] = (match as unknown as [string, string, string]).map((part) => part.toLowerCase()) as [string, string, string];
  const domains = identity.domains ?? [];
  if (domains.length > 0 && !domains.includes(domain)) {
    return {
      ok: false,
      message: `Latch cannot tell who you are on ${resourceName}: its accounts belong to ${domains.map((allowed) => `@${allowed}`).join(', ')} addresses, and your Slack profile's email is at @${domain}.`,
    };
  }
  const principal = identity.template.replaceAll('{email}', email).replaceAll('{localpart}', localpart).replaceAll('{domain}', domain);
  return { ok: true, principal: principal.toLowerCase() };
}

/** Why this Slack account may have no access at all, or null when it is a person of this workspace. */
export function accountRefusal(account: SlackAccount, identity: Pick<IdentityPolicy, 'allowGuests'>, resourceName: string): string | null {
  if (account.deleted) return 'Your Slack account is deactivated: Latch gives it no access.';
  if (account.bot) return 'Latch gives access to people only, and this Slack account is a bot or an app.';
  if (!account.ofLatchTeam) {
    return "Your Slack account belongs to another workspace or organisation (Slack Connect): Latch gives access only to members of its own workspace.";
  }
  if (account.guest && identity.allowGuests !== true) return `Guests of this Slack workspace cannot request ${resourceName}.`;
  return null;
}

/**
 * Why this Slack account may not decide for others (approve, deny, review break-glass, revoke), or
 * null. The same people-of-this-workspace rule as for requesters, and never a guest: a resource's
 * `allowGuests` lets guests ask for it, and deciding what others get is not asking.
 */
export function deciderAccountRefusal(account: SlackAccount): string | null {
  const refused = accountRefusal(account, { allowGuests: true }, 'Latch');
  if (refused) return refused;
  if (account.guest) return 'Guests of this Slack workspace cannot approve, deny or review requests: only its members can.';
  return null;
}

/**
 * Why `principal` can never be given access on `resource` through a request, or null. The
 * policy's `permanentHolders` (service accounts, owners) hold the resource's roles on purpose:
 * granting would change nothing, and revoking would take away what the policy says they keep.
 */
export function reservedPrincipalRefusal(resource: Pick<ResourcePolicy, 'name' | 'permanentHolders'>, principal: string): string | null {
  const reserved = resource.permanentHolders.some((holder) => holder.toLowerCase() === principal.toLowerCase());
  if (!reserved) return null;
  return `Latch will not change the account "${principal}" on ${resource.name}: the policy lists it among the accounts that hold access there permanently (permanentHolders).`;
}
