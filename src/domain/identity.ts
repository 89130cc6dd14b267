import type { IdentityPolicy } from './policy.ts';

/** What Slack tells Latch about a person (users.info). */
export interface SlackProfile {
  id: string;
  email?: string | undefined;
}

export type PrincipalResult = { ok: true; principal: string } | { ok: false; message: string };

const EMAIL = /^([^@\s]+)@([^@\s]+\.[^@\s]+)$/;

/**
 * The principal a provider will grant to, for one Slack user on one resource. Refusals are fit to
 * show the requester: they are given when asking, not discovered when the grant fails later.
 */
export function resolvePrincipal(identity: IdentityPolicy, resourceName: string, profile: SlackProfile): PrincipalResult {
  const mapped = identity.map[profile.id];
  if (mapped) return { ok: true, principal: mapped };
  switch (identity.from) {
    case 'slack-user-id':
      return { ok: true, principal: profile.id };
    case 'map-only':
      return { ok: false, message: `You have no account on ${resourceName} that Latch knows of: ask the policy's owners to map your Slack user.` };
    case 'email': {
      const match = profile.email ? EMAIL.exec(profile.email) : null;
      if (!match) {
        return { ok: false, message: `Latch cannot tell who you are on ${resourceName}: your Slack profile shows no email address.` };
      }
      const [email, localpart, domain] = match as unknown as [string, string, string];
      const principal = identity.template.replaceAll('{email}', email).replaceAll('{localpart}', localpart).replaceAll('{domain}', domain);
      return { ok: true, principal: principal.toLowerCase() };
    }
  }
}
