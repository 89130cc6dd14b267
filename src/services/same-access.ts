import type { AccessKey } from '../store/access-lock.ts';
import type { AccessContext } from './access-context.ts';

/**
 * Which grants are the same access. A resource's role is its own access, unless its provider
 * names what the role gives in the target (AccessProvider.accessTarget): then every resource and
 * role of the policy in force that gives the same thing is the same access. Two resources (or two
 * roles) mapped to one Slack user group are one membership: ending a grant through one of them
 * must not take the person out while a grant through another still covers them, and grants and
 * revokes through either take turns on one access lock.
 */
export interface AccessOf {
  resourceId: string;
  role: string;
  principal: string;
}

/** The access lock's key: the target and principal when the provider names a target. */
export function accessKeyOf(ctx: AccessContext, access: AccessOf): AccessKey {
  const target = targetOf(ctx, access.resourceId, access.role);
  return target === undefined ? { ...access } : { ...access, target };
}

/** Every resource and role (this one first) whose grants give the same access as `role` of `resourceId`. */
export function sameAccessRoles(ctx: AccessContext, resourceId: string, role: string): Array<{ resourceId: string; role: string }> {
  const own = { resourceId, role };
  const target = targetOf(ctx, resourceId, role);
  if (target === undefined) return [own];
  const others = ctx
    .policy()
    .resources.flatMap((resource) => resource.roles.map((candidate) => ({ resourceId: resource.id, role: candidate.id })))
    .filter((other) => (other.resourceId !== resourceId || other.role !== role) && targetOf(ctx, other.resourceId, other.role) === target);
  return [own, ...others];
}

function targetOf(ctx: AccessContext, resourceId: string, role: string): string | undefined {
  return ctx.providerFor(resourceId)?.accessTarget?.(role);
}
