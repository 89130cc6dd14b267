import { checkStoredRequest, groupsToCheck, type FitMoment, type StoredRequestFit } from '../domain/stored-request-fit.ts';
import type { AccessRequest } from '../store/generated/client.ts';
import { findAccessChain, heldAccessOf } from './access-chain.ts';
import type { ServiceContext } from './service-context.ts';

/**
 * Asks whether a stored request still fits the policy in force (see stored-request-fit.ts),
 * gathering what the pure rule needs: the requester's user groups, from Slack, and, for a request
 * for more time, the stretch of access it extends. Called outside any transaction: the group
 * lookup may wait on Slack.
 */
export async function recheckStoredRequest(ctx: ServiceContext, request: AccessRequest, moment: FitMoment): Promise<StoredRequestFit> {
  const policy = ctx.policy();
  const now = ctx.clock.now();
  const groups = groupsToCheck(policy, request);
  const requesterGroups = groups.length > 0 ? await ctx.groups.memberGroups(request.requesterSlackId, groups) : new Set<string>();
  const extending = request.extendsRequestId ? heldAccessOf((await findAccessChain(ctx.db, request.id)).filter((other) => other.id !== request.id), now)?.held : null;
  return checkStoredRequest(policy, request, { moment, now, requesterGroups, extending: extending ?? null });
}
