import type { SlackRequestEvidence } from '../domain/decision-evidence.ts';
import { canTransition } from '../domain/request-state.ts';
import { appendAuditEvent } from '../store/audit-log.ts';
import { inTransaction } from '../store/transaction.ts';
import { findAccessChain } from './access-chain.ts';
import { handOver } from './decide-request.ts';
import { publishCommitted } from './latch-events.ts';
import { refuse, type Refused } from './refusal.ts';
import type { ServiceContext } from './service-context.ts';
import { isRequestId } from './request-id.ts';
import { deciderAccountRefused } from './decider-account.ts';
import { lockRequest } from '../store/request-lock.ts';

export type EndAccessResult =
  | { ok: true; requestId: string; grantId: string | null; ended: Array<{ requestId: string; grantId: string | null }> }
  | Refused;

/**
 * Ends access before its expiry: "I'm done" from the person who holds it, or "Revoke now" from a
 * security admin named in the policy. The grant's expiry moves to now and its revocation is queued
 * at once; the revoke job does the rest (overlaps, retries, alerts) as for any expiry.
 * An approved request not yet granted ends too: its grant job then grants nothing, or, if the
 * provider is already at work, revokes what it granted straight away.
 *
 * Ending access ends all of it: every extension of it (and the access it extends) ends with it,
 * and a request for more time still waiting for approvers is cancelled. Otherwise an extension's
 * grant would keep the access alive after "I'm done".
 */
export async function endAccessEarly(
  ctx: ServiceContext,
  // tokenId: the API token (a machine's or a person's terminal) the access was ended with, recorded in every audit event.
  input: { requestId: string; userId: string; evidence?: SlackRequestEvidence | undefined; tokenId?: string },
): Promise<EndAccessResult> {
  const request = isRequestId(input.requestId) ? await ctx.db.accessRequest.findUnique({ where: { id: input.requestId } }) : null;
  if (!request) return refuse('not_found', 'This request no longer exists.');
  const isRequester = request.requesterSlackId === input.userId;
  if (!isRequester && !(await isSecurityAdmin(ctx, input.userId))) {
    return refuse('not_allowed', 'Only the person who holds this access or a security admin named in the policy can end it.');
  }
  // Ending someone else's access is a decision for others: only a member of this workspace makes it.
  const accountRefused = isRequester ? null : await deciderAccountRefused(ctx, input.userId);
  if (accountRefused) return accountRefused;
  const now = ctx.clock.now();
  const reason = isRequester ? 'ended early by the requester' : 'revoked by a security admin';
  const result = await inTransaction(ctx.db, async (tx): Promise<EndAccessResult> => {
    // Every row of the chain locked in id order, as any transaction here takes them, before
    // anything is read from them: two ends of the same access cannot deadlock.
    const chain = [...(await findAccessChain(tx, input.requestId))].sort((a, b) => a.id.localeCompare(b.id));
    const lockedRows = [];
    for (const member of chain) {
      const locked = await lockRequest(tx, member.id);
      if (locked) lockedRows.push(locked);
    }
    const clicked = lockedRows.find((row) => row.id === input.requestId);
    if (!clicked) return refuse('not_found', 'This request no longer exists.');
    if (!canTransition(clicked.state, 'revoked')) return refuse('not_active', `This access is not active: the request is ${clicked.state}.`, { detail: { state: clicked.state } });
    const ended: Array<{ requestId: string; grantId: string | null }> = [];
    for (const locked of lockedRows) {
      if (locked.state === 'pending') {
        await tx.accessRequest.update({ where: { id: locked.id }, data: { state: 'cancelled', endedAt: now, outcomeReason: 'The access it would have extended has ended.' } });
        await appendAuditEvent(tx, {
          actor: input.userId,
          action: 'request.cancelled',
          requestId: locked.id,
          at: now,
          data: { reason: 'the access it extends ended early', endedWith: clicked.id, ...(input.tokenId ? { tokenId: input.tokenId } : {}) },
          evidence: input.evidence,
        });
        ended.push({ requestId: locked.id, grantId: null });
        continue;
      }
      if (!canTransition(locked.state, 'revoked')) continue;
      const grant = await tx.grant.findUnique({ where: { requestId: locked.id } });
      if (grant && !grant.revokedAt) {
        await tx.grant.update({
          where: { id: grant.id },
          data: { endRequestedAt: now, expiresAt: now, revokeReason: reason, revokedBySlackId: input.userId },
        });
      }
      if (locked.state === 'approved') {
        // Nothing was granted yet (or it is being granted right now): the request ends here.
        await tx.accessRequest.update({ where: { id: locked.id }, data: { state: 'revoked', endedAt: now, outcomeReason: capitalised(reason) + ' before access was granted.' } });
      }
      await appendAuditEvent(tx, {
        actor: input.userId,
        action: 'grant.end_requested',
        requestId: locked.id,
        at: now,
        data: {
          grantId: grant?.id ?? null,
          reason,
          originalExpiresAt: grant?.expiresAt?.toISOString() ?? null,
          ...(locked.id !== clicked.id ? { endedWith: clicked.id } : {}),
          ...(input.tokenId ? { tokenId: input.tokenId } : {}),
        },
        evidence: input.evidence,
      });
      ended.push({ requestId: locked.id, grantId: grant && !grant.revokedAt ? grant.id : null });
    }
    const own = ended.find((entry) => entry.requestId === clicked.id);
    return { ok: true, requestId: clicked.id, grantId: own?.grantId ?? null, ended };
  });
  if (result.ok) {
    for (const { requestId, grantId } of result.ended) {
      if (grantId) await handOver(ctx, () => ctx.access.scheduleRevocation(grantId, now), requestId);
    }
    ctx.logger.info({ accessRequestId: result.requestId, by: input.userId, requests: result.ended.length }, 'access ended early');
    for (const { requestId } of result.ended) await publishCommitted(ctx, { type: 'access.end_requested', requestId });
  }
  return result;
}

export async function isSecurityAdmin(ctx: ServiceContext, userId: string): Promise<boolean> {
  const { admins } = ctx.policy().security;
  if (admins.users.includes(userId)) return true;
  if (admins.groups.length === 0) return false;
  return (await ctx.groups.memberGroups(userId, admins.groups)).size > 0;
}

function capitalised(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
