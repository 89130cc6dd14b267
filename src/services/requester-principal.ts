import { setTimeout as sleep } from 'node:timers/promises';
import { accountRefusal, reservedPrincipalRefusal, resolvePrincipal, type PrincipalResult, type SlackProfile } from '../domain/identity.ts';
import { findMachine, machineIdOf } from '../domain/machine.ts';
import type { ResourcePolicy } from '../domain/policy.ts';
import { providerDefinition } from '../providers/registry.ts';
import { oneLine } from './access-context.ts';
import { refuse, type Refused } from './refusal.ts';
import type { ServiceContext } from './service-context.ts';

export type RequesterPrincipal = { ok: true; principal: string } | Refused;

/**
 * How long a request waits for the target's word on the account. A form's answer must reach Slack
 * within 3 s; a target that is slower is asked again, and must agree, before anything is granted.
 */
const CHECK_TIMEOUT_MS = 1_500;

/**
 * The account the provider will grant `role` to for a Slack user, resolved when they ask, so that
 * a requester with no usable identity is told then, not after approval. Refused, in this order:
 * a Slack account that is not a person of this workspace, an identity the policy's rules do not
 * give (map, template, email domains), one of the policy's permanent holders, and an account the
 * provider's target calls privileged (the grantor, an administrator, a managed role). The provider
 * checks again right before it grants or revokes, so what is let through here is not trusted there.
 */
export async function requesterPrincipal(ctx: ServiceContext, resource: ResourcePolicy, role: string, userId: string, requestId?: string): Promise<RequesterPrincipal> {
  // A resource that makes a login of its own for each request grants to that login, whoever asks:
  // the requester needs no account on the target, and receives the login's credentials instead.
  const ownLogin = requestId === undefined ? undefined : providerDefinition(resource.provider.type)?.loginFor?.(resource.provider.settings, role, requestId);
  if (ownLogin !== undefined) return { ok: true, principal: ownLogin };
  const machineId = machineIdOf(userId);
  let resolved: PrincipalResult;
  if (machineId !== null) {
    // A machine has no Slack profile: its account is named in the policy, and checked as a person's is.
    const machine = findMachine(ctx.policy().machines, machineId);
    resolved = machine ? { ok: true, principal: machine.account } : { ok: false, message: `The policy has no machine "${machineId}".` };
  } else {
    const profile = await readSlackProfile(ctx, userId);
    if (!profile.ok) return profile;
    resolved = resolvePrincipal(resource.identity, resource.name, profile.profile);
  }
  if (!resolved.ok) return refuse('identity_refused', resolved.message, { detail: { resourceId: resource.id } });
  const reserved = reservedPrincipalRefusal(resource, resolved.principal);
  if (reserved) return refusePrivileged(ctx, resource, userId, resolved.principal, reserved);
  const provider = ctx.providerFor?.(resource.id);
  if (!provider?.checkPrincipal) return resolved;
  const checked = await Promise.race([
    provider
      .checkPrincipal(resolved.principal, role)
      .catch((error: unknown) => ({ ok: false as const, failure: { kind: 'transient' as const, message: error instanceof Error ? error.message : String(error) } })),
    sleep(CHECK_TIMEOUT_MS, undefined, { ref: false }).then(() => ({ ok: false as const, failure: { kind: 'transient' as const, message: `no answer within ${CHECK_TIMEOUT_MS} ms` } })),
  ]);
  if (checked.ok) return resolved;
  if (checked.failure.kind === 'permanent') {
    return refusePrivileged(ctx, resource, userId, resolved.principal, `Latch will not change the account "${resolved.principal}" on ${resource.name}: ${oneLine(checked.failure.message)}.`);
  }
  // The target could not say just now: the provider checks again before it acts, and refuses then.
  ctx.logger.warn({ resourceId: resource.id, principal: resolved.principal, failure: oneLine(checked.failure.message) }, 'could not check the requested account on the target; the grant will check it');
  return resolved;
}

/**
 * Why the Slack account of `userId` may not ask for `resource` now, or null: the same account rule
 * a new request's identity is resolved under (deactivated, a bot, another workspace's, a guest
 * where the resource does not allow guests), with the same refusal. For asking again about access
 * already held (more time), whose account was settled when it was first asked: the person may have
 * changed since. A machine has no Slack account; the policy naming it is what it is checked by.
 */
export async function requesterAccountRefused(ctx: ServiceContext, resource: ResourcePolicy, userId: string): Promise<Refused | null> {
  if (machineIdOf(userId) !== null) return null;
  const profile = await readSlackProfile(ctx, userId);
  if (!profile.ok) return profile;
  const refused = accountRefusal(profile.profile.account, resource.identity, resource.name);
  return refused ? refuse('identity_refused', refused, { detail: { resourceId: resource.id } }) : null;
}

/**
 * A person's Slack profile (the directory caches it); when Slack cannot say who they are, a "try
 * again" refusal, so no caller lets them through unchecked: requesters and deciders alike.
 */
export async function readSlackProfile(ctx: ServiceContext, userId: string): Promise<{ ok: true; profile: SlackProfile } | Refused> {
  const profile = await ctx.users.profile(userId);
  return profile ? { ok: true, profile } : refuse('profile_unavailable', 'Latch could not read your Slack profile just now; try again in a minute.');
}

function refusePrivileged(ctx: ServiceContext, resource: ResourcePolicy, userId: string, principal: string, message: string): Refused {
  // Someone naming a privileged account is worth a look, whether by mistake or not.
  ctx.logger.warn({ resourceId: resource.id, requester: userId, principal }, 'request refused: the identity names an account Latch never changes');
  return refuse('identity_refused', message, { detail: { resourceId: resource.id, principal } });
}
