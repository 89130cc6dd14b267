import { approverRefusal } from '../domain/access-request-rules.ts';
import { findResource, type ResourcePolicy } from '../domain/policy.ts';
import { onCallApproverStatus } from './on-call-approver.ts';
import type { AccessRequest, Grant } from '../store/generated/client.ts';
import type { ServiceContext } from './service-context.ts';

/** What one person's App Home shows, read fresh from the database. */
export interface HomeData {
  userId: string;
  /** Their access now, with its grant (time left is computed by Slack from expiresAt). */
  active: Array<AccessRequest & { grant: Grant | null }>;
  /** Their requests still waiting for approvers. */
  pending: AccessRequest[];
  /** Others' requests they may decide and have not voted on yet. */
  awaiting: AccessRequest[];
  /** Their latest requests that ended, newest first. */
  recent: AccessRequest[];
}

const RECENT = 10;
// A Home view holds at most 100 blocks: the lists are capped so the view always fits.
const AWAITING = 10;
const OWN = 10;

export async function loadHome(ctx: ServiceContext, userId: string): Promise<HomeData> {
  const [active, pending, recent, candidates] = await Promise.all([
    ctx.db.accessRequest.findMany({ where: { requesterSlackId: userId, state: { in: ['active', 'approved'] } }, include: { grant: true }, orderBy: { createdAt: 'desc' }, take: OWN }),
    ctx.db.accessRequest.findMany({ where: { requesterSlackId: userId, state: 'pending' }, orderBy: { createdAt: 'desc' }, take: OWN }),
    ctx.db.accessRequest.findMany({ where: { requesterSlackId: userId, state: { in: ['revoked', 'denied', 'cancelled', 'expired', 'failed'] } }, orderBy: { updatedAt: 'desc' }, take: RECENT }),
    ctx.db.accessRequest.findMany({
      where: { state: 'pending', requesterSlackId: { not: userId }, approvals: { none: { approverSlackId: userId } } },
      orderBy: { createdAt: 'asc' },
      take: 200,
    }),
  ]);
  const policy = ctx.policy();
  const groups = [...new Set(policy.resources.flatMap((resource) => [...resource.approvers.groups, ...(resource.reminders?.escalateTo ?? [])]))];
  const memberOf = groups.length > 0 ? await ctx.groups.memberGroups(userId, groups) : new Set<string>();
  // Whether the person approves by being on call (approvers.onCall), asked once per resource and
  // only for resources that say so; a provider that cannot answer shows nothing (fail closed).
  const onCallByResource = new Map<string, Promise<boolean | { unavailable: string }>>();
  const onCallFor = (resource: ResourcePolicy, escalatedTo: readonly string[]) => {
    if (!onCallByResource.has(resource.id)) onCallByResource.set(resource.id, onCallApproverStatus(ctx, resource, userId, memberOf, escalatedTo));
    return onCallByResource.get(resource.id)!;
  };
  const decidable = await Promise.all(
    candidates.map(async (request) => {
      const resource = findResource(policy, request.resourceId);
      if (!resource) return false;
      const escalatedTo = request.escalatedAt ? (resource.reminders?.escalateTo ?? []) : [];
      if (approverRefusal(resource, request.requesterSlackId, userId, memberOf, escalatedTo) === null) return true;
      return resource.approvers.onCall !== undefined && approverRefusal(resource, request.requesterSlackId, userId, memberOf, escalatedTo, await onCallFor(resource, escalatedTo)) === null;
    }),
  );
  const awaiting = candidates.filter((_, index) => decidable[index]).slice(0, AWAITING);
  return { userId, active, pending, awaiting, recent };
}
