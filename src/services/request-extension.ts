import { validateExtension, type ExtensionDraft, type HeldAccess } from '../domain/extension-rules.ts';
import { findResource, findRole, groupsOf, isInAudience, type ResourcePolicy, type RolePolicy } from '../domain/policy.ts';
import { checkScope, readStoredScope, scopeApprovals } from '../domain/scope-rules.ts';
import { appendAuditEvent } from '../store/audit-log.ts';
import { inTransaction } from '../store/transaction.ts';
import { findAccessChain, heldAccessOf, type ChainedRequest } from './access-chain.ts';
import { publishCommitted } from './latch-events.ts';
import { invalidInput, refuse, type Refused } from './refusal.ts';
import { requesterAccountRefused } from './requester-principal.ts';
import type { ServiceContext } from './service-context.ts';
import { lockRequest } from '../store/request-lock.ts';

export type ExtensionCheck =
  | { ok: true; head: ChainedRequest; held: HeldAccess; resource: ResourcePolicy; role: RolePolicy }
  | Refused;

export type RequestExtensionResult = { ok: true; requestId: string } | Refused;

const ALREADY_ASKED = 'You have already asked for more time on this access: wait for that decision.';

/**
 * May `userId` ask for more time on the access `requestId` belongs to? Asked when the button is
 * pressed, so a refusal comes before the form, and again on submit. Only the holder may ask, only
 * while the access is live, only while the policy lists them and their Slack account is one Latch
 * gives access to, and one request for more time at a time.
 */
export async function checkExtension(ctx: ServiceContext, requestId: string, userId: string): Promise<ExtensionCheck> {
  const chain = await findAccessChain(ctx.db, requestId);
  const first = chain[0];
  if (!first) return refuse('not_found', 'This request no longer exists.');
  if (first.requesterSlackId !== userId) return refuse('not_allowed', 'Only the person who holds this access can ask for more time.');
  if (chain.some((request) => request.state === 'pending' || request.state === 'approved')) {
    return refuse('already_asked', ALREADY_ASKED);
  }
  const holding = heldAccessOf(chain, ctx.clock.now());
  if (!holding) return refuse('already_ended', 'This access has already ended: ask for it again with /request-access.');
  const { head, held } = holding;
  const resource = findResource(ctx.policy(), head.resourceId);
  const role = resource && findRole(resource, head.role);
  if (!resource || !role) return refuse('no_longer_fits', `The policy no longer offers ${head.role} on ${head.resourceId}.`);
  // More time is a request to the approvers: only someone the policy in force lists may ask.
  const groups = groupsOf(resource.requesters);
  const userGroups = groups.length > 0 ? await ctx.groups.memberGroups(userId, groups) : new Set<string>();
  if (!isInAudience(resource.requesters, userId, userGroups)) {
    return refuse('no_longer_fits', `The policy no longer lists you as someone who may ask for ${resource.name}, so you cannot ask for more time.`);
  }
  // Checked as a new request is, after the policy's list: someone who has since become a guest, or
  // left the workspace, is no longer a person Latch gives access to, however the access began.
  const accountRefused = await requesterAccountRefused(ctx, resource, userId);
  if (accountRefused) return accountRefused;
  return { ok: true, head, held, resource, role };
}

/**
 * Stores a request for more time as a new pending request that extends the live one: the same
 * resource, role and account, a new decision by the approvers the policy names now. Approved,
 * its grant runs on from the end of the access it extends (see grantAccess), so the access never
 * lapses in between. It expires undecided when that access ends.
 */
export async function requestExtension(
  ctx: ServiceContext,
  input: ExtensionDraft & { requestId: string; requesterId: string; teamId?: string | null },
): Promise<RequestExtensionResult> {
  const check = await checkExtension(ctx, input.requestId, input.requesterId);
  if (!check.ok) return check;
  const validation = validateExtension(check.role, check.held, input, ctx.minimumDurationSeconds);
  if (!validation.ok) return invalidInput(validation.errors);
  const { head, resource, role, held } = check;
  const policy = ctx.policy();
  const now = ctx.clock.now();
  // More time is for the same access: a scoped grant's extension keeps its scope (never the whole role).
  const scope = readStoredScope(head.scope);
  if (scope === 'invalid') return refuse('no_longer_fits', 'The scope this access was granted for can no longer be read; ask again for a new request.');
  const scopeCheck = checkScope(role, scope);
  if (!scopeCheck.ok) return refuse('no_longer_fits', `The policy no longer allows the scope of this access: ${scopeCheck.problems.join(' ')}`);
  const more = scopeApprovals(role, scope);
  const asked = {
    resourceId: resource.id,
    role: role.id,
    principal: head.principal,
    durationSeconds: validation.seconds,
    reason: validation.reason,
    ticket: head.ticket,
    extendsRequestId: head.id,
    requiredApprovals: resource.approvers.required + more.add,
    requiredGroups: [...new Set([...resource.approvers.oneFrom, ...more.oneFrom])],
    policyVersion: policy.version,
    ...(scope ? { scope } : {}),
  };
  const requestId = await inTransaction(ctx.db, async (tx) => {
    // Two submissions at once: the head's row lock makes them take turns, and the second sees the first.
    await lockRequest(tx, head.id);
    const undecided = await tx.accessRequest.count({ where: { extendsRequestId: head.id, state: { in: ['pending', 'approved'] } } });
    if (undecided > 0) return null;
    const request = await tx.accessRequest.create({
      data: {
        ...asked,
        requesterSlackId: input.requesterId,
        slackTeamId: input.teamId ?? head.slackTeamId,
        state: 'pending',
        approvalChannelId: resource.approvalChannel,
        // More time for access that has ended is moot: a new request is the way then.
        pendingExpiresAt: new Date(Math.min(now.getTime() + resource.pendingTimeoutSeconds * 1000, held.until.getTime())),
        createdAt: now,
      },
    });
    await appendAuditEvent(tx, {
      actor: input.requesterId,
      action: 'request.created',
      requestId: request.id,
      at: now,
      data: { ...asked, extends: { requestId: head.id, until: held.until.toISOString(), newEnd: validation.newEnd.toISOString() } },
    });
    return request.id;
  });
  if (!requestId) return refuse('already_asked', ALREADY_ASKED);
  ctx.logger.info({ accessRequestId: requestId, extends: head.id, seconds: validation.seconds }, 'more time requested');
  await publishCommitted(ctx, { type: 'request.created', requestId });
  return { ok: true, requestId };
}
