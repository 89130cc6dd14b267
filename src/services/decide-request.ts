import { approverRefusal } from '../domain/access-request-rules.ts';
import type { SlackRequestEvidence } from '../domain/decision-evidence.ts';
import { tallyVotes } from '../domain/approval-tally.ts';
import { findResource, type ResourcePolicy } from '../domain/policy.ts';
import { canTransition } from '../domain/request-state.ts';
import { appendAuditEvent } from '../store/audit-log.ts';
import type { AccessRequest } from '../store/generated/client.ts';
import { inTransaction, type Transaction } from '../store/transaction.ts';
import type { ServiceContext } from './service-context.ts';

export interface DecideRequestInput {
  requestId: string;
  deciderId: string;
  decision: 'approve' | 'deny';
  comment?: string | null;
  /** The revision the decider was shown; a vote on an older one is refused. Latest when absent. */
  revision?: number;
  /** How the decision reached Latch (the signed Slack request over HTTP), kept with its audit events. */
  evidence?: SlackRequestEvidence | undefined;
}

export type DecisionRefusal = 'not_found' | 'not_pending' | 'not_allowed' | 'already_decided' | 'stale';

export type DecideRequestResult =
  | { ok: true; outcome: 'recorded' | 'approved' | 'denied'; requestId: string }
  | { ok: false; refusal: DecisionRefusal; message: string };

const MAX_COMMENT_LENGTH = 500;

/**
 * May `deciderId` decide this request? Used before a Deny opens its modal, so a non-approver is
 * told at once. Everything is re-read from the database: a button's value is only an id.
 */
export async function checkDecider(
  ctx: ServiceContext,
  requestId: string,
  deciderId: string,
): Promise<{ ok: true; resource: ResourcePolicy; request: AccessRequest } | { ok: false; refusal: DecisionRefusal; message: string }> {
  const request = await ctx.db.accessRequest.findUnique({ where: { id: requestId } }).catch(() => null);
  if (!request) return { ok: false, refusal: 'not_found', message: 'This request no longer exists.' };
  const resource = findResource(ctx.policy(), request.resourceId);
  if (!resource) {
    return { ok: false, refusal: 'not_allowed', message: `The policy no longer has a resource called ${request.resourceId}.` };
  }
  const escalatedTo = request.escalatedAt ? (resource.reminders?.escalateTo ?? []) : [];
  const groups = await ctx.groups.memberGroups(deciderId, [...resource.approvers.groups, ...escalatedTo]);
  const refusal = approverRefusal(resource, request.requesterSlackId, deciderId, groups, escalatedTo);
  if (refusal) return { ok: false, refusal: 'not_allowed', message: refusal };
  if (request.state !== 'pending') {
    return { ok: false, refusal: 'not_pending', message: `This request is already ${request.state}.` };
  }
  return { ok: true, resource, request };
}

/**
 * Records one approver's decision. Authorisation is checked against the policy in force; the
 * request row is locked for the transaction, so concurrent clicks take turns and each sees the
 * votes before it: one vote per approver and revision, and the request leaves `pending` once.
 */
export async function decideRequest(ctx: ServiceContext, input: DecideRequestInput): Promise<DecideRequestResult> {
  const allowed = await checkDecider(ctx, input.requestId, input.deciderId);
  if (!allowed.ok) return allowed;
  const comment = input.comment?.trim().slice(0, MAX_COMMENT_LENGTH) || null;
  const now = ctx.clock.now();
  // Which of the groups this request needs an approval from the decider is in, as of now.
  const required = allowed.request.requiredGroups;
  const deciderGroups = required.length > 0 ? [...(await ctx.groups.memberGroups(input.deciderId, required))] : [];

  // A later start asked for delays the grant job to it.
  let startsAt: Date | null = null;
  const result = await inTransaction(ctx.db, async (tx): Promise<DecideRequestResult> => {
    const request = await lockRequest(tx, input.requestId);
    // Votes are taken only while a decision can still move the request on.
    if (!request || !canTransition(request.state, input.decision === 'approve' ? 'approved' : 'denied')) {
      return { ok: false, refusal: 'not_pending', message: `This request is already ${request?.state ?? 'gone'}.` };
    }
    if (input.revision !== undefined && input.revision !== request.revision) {
      return { ok: false, refusal: 'stale', message: 'This request changed after you saw it; look at it again before deciding.' };
    }
    const votes = await tx.approval.findMany({
      where: { requestId: request.id, requestRevision: request.revision },
      orderBy: { createdAt: 'asc' },
    });
    if (votes.some((vote) => vote.approverSlackId === input.deciderId)) {
      return { ok: false, refusal: 'already_decided', message: 'You have already decided this request.' };
    }
    await tx.approval.create({
      data: {
        requestId: request.id,
        requestRevision: request.revision,
        approverSlackId: input.deciderId,
        decision: input.decision,
        comment,
        approverGroups: deciderGroups,
        createdAt: now,
      },
    });
    await appendAuditEvent(tx, {
      actor: input.deciderId,
      action: 'approval.recorded',
      requestId: request.id,
      at: now,
      data: { decision: input.decision, comment, revision: request.revision, ...(deciderGroups.length > 0 ? { groups: deciderGroups } : {}) },
      evidence: input.evidence,
    });
    const tally = tallyVotes(
      [
        ...votes.map((v) => ({ approverId: v.approverSlackId, decision: v.decision, groups: v.approverGroups })),
        { approverId: input.deciderId, decision: input.decision, groups: deciderGroups },
      ],
      request.requiredApprovals,
      request.requesterSlackId,
      request.requiredGroups,
    );
    if (tally.outcome === 'pending') return { ok: true, outcome: 'recorded', requestId: request.id };
    const state = tally.outcome;
    await tx.accessRequest.update({
      where: { id: request.id },
      data: { state, decidedAt: now, endedAt: state === 'denied' ? now : null, outcomeReason: state === 'denied' ? comment : null },
    });
    await appendAuditEvent(tx, {
      actor: input.deciderId,
      action: `request.${state}`,
      requestId: request.id,
      at: now,
      data: state === 'approved' ? { approvers: tally.approvers } : { deniedBy: tally.deniedBy, reason: comment },
      evidence: input.evidence,
    });
    startsAt = request.startsAt;
    return { ok: true, outcome: state, requestId: request.id };
  });

  if (result.ok && result.outcome !== 'recorded') ctx.metrics?.decision(result.outcome, allowed.request.createdAt, now);
  if (result.ok && result.outcome === 'approved') await handOver(ctx, () => ctx.access.requestGrant(result.requestId, startsAt), result.requestId);
  if (result.ok) ctx.logger.info({ accessRequestId: result.requestId, decider: input.deciderId, outcome: result.outcome }, 'decision recorded');
  return result;
}

/**
 * Queues follow-up work after a commit. The decision is stored whatever happens here: if Redis is
 * unreachable, the reconcile job finds the request in PostgreSQL and queues it again.
 */
export async function handOver(ctx: ServiceContext, enqueue: () => Promise<void>, requestId: string): Promise<void> {
  try {
    await enqueue();
  } catch (error) {
    ctx.logger.warn({ err: error, accessRequestId: requestId }, 'could not queue the next step; the reconcile job will');
  }
}

/** Reads the request and holds its row lock until the transaction ends. */
export async function lockRequest(tx: Transaction, requestId: string) {
  await tx.$queryRaw`SELECT id FROM access_requests WHERE id = ${requestId}::uuid FOR UPDATE`;
  return tx.accessRequest.findUnique({ where: { id: requestId } });
}
