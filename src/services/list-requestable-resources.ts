import { groupsOf, isInAudience, type ResourcePolicy } from '../domain/policy.ts';
import type { ServiceContext } from './service-context.ts';

/** The resources `userId` may ask for, in policy order: the only ones the request modal offers. */
export async function listRequestableResources(ctx: ServiceContext, userId: string): Promise<ResourcePolicy[]> {
  const resources = ctx.policy().resources;
  const groups = [...new Set(resources.flatMap((resource) => groupsOf(resource.requesters)))];
  const memberGroups = await ctx.groups.memberGroups(userId, groups);
  return resources.filter((resource) => isInAudience(resource.requesters, userId, memberGroups));
}
