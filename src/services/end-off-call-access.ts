import { judgeOnCall, onCallEmailOf } from '../domain/on-call.ts';
import { canonicalJson, type AutoApprovalRule } from '../domain/policy.ts';
import { appendAuditEvent } from '../store/audit-log.ts';
import { lockRequest } from '../store/request-lock.ts';
import { inTransaction } from '../store/transaction.ts';
import { handOver } from './decide-request.ts';
import { publishCommitted } from './latch-events.ts';
import type { OnCallAnswer, ServiceContext } from './service-context.ts';

export interface OffCallSweep {
  /** Grants whose holder is no longer on call (or whose incident is resolved): their revocation is queued now. */
  ended: string[];
  /** Grants still covered by their on-call rule. */
  stillOnCall: number;
  /** Grants the provider could not be asked about: they keep their end, and are looked at again next time. */
  unchecked: number;
}

/**
 * Access approved by an on-call rule lasts while the rule's condition does. For each live grant of
 * a request the policy approved by such a rule, asks PagerDuty or Opsgenie again (once per distinct
 * condition); when the holder is no longer on call, or the incident the rule waited for is no longer
 * open, the access ends at once: the grant's expiry moves to now with a `grant.end_requested`
 * event (actor `policy:<rule>`) in one transaction, and the revocation is queued.
 *
 * A provider that cannot answer ends nothing: the access keeps the end it was given (for PagerDuty,
 * already capped at the shift's end when it was approved), and the next sweep asks again. Ending
 * everyone's access whenever the provider blinks would take access away from the people handling
 * the incident, at the moment they need it.
 */
export async function endOffCallAccess(ctx: ServiceContext): Promise<OffCallSweep> {
  const sweep: OffCallSweep = { ended: [], stillOnCall: 0, unchecked: 0 };
  const now = ctx.clock.now();
  const rules = ctx.policy().resources.flatMap((resource) => resource.autoApprove.filter((rule) => rule.onCall).map((rule) => ({ resourceId: resource.id, rule })));
  if (rules.length === 0) return sweep;
  const requests = await ctx.db.accessRequest.findMany({
    where: { state: 'active', breakGlass: false, OR: rules.map(({ resourceId, rule }) => ({ resourceId, decidedByRule: rule.name })) },
    select: { id: true, resourceId: true, decidedByRule: true, requesterSlackId: true },
  });
  const answers = new Map<string, Promise<OnCallAnswer>>();
  for (const request of requests) {
    const rule = rules.find((candidate) => candidate.resourceId === request.resourceId && candidate.rule.name === request.decidedByRule)!.rule;
    const condition = rule.onCall!;
    const key = canonicalJson(condition);
    if (!answers.has(key)) answers.set(key, ctx.onCall ? ctx.onCall.check(condition, now) : Promise.resolve({ unavailable: 'no on-call provider is configured in Latch' }));
    const answer = await answers.get(key)!;
    if ('unavailable' in answer) {
      sweep.unchecked += 1;
      continue;
    }
    const verdict = judgeOnCall(condition, onCallEmailOf(await ctx.users.profile(request.requesterSlackId)), answer.facts, now);
    if (verdict.holds) {
      sweep.stillOnCall += 1;
      continue;
    }
    const grantId = await endGrantOf(ctx, request.id, rule, verdict.because);
    if (!grantId) continue;
    sweep.ended.push(grantId);
    await handOver(ctx, () => ctx.access.scheduleRevocation(grantId, ctx.clock.now()), request.id);
    await publishCommitted(ctx, { type: 'access.end_requested', requestId: request.id });
  }
  if (sweep.unchecked > 0) ctx.logger.warn({ unchecked: sweep.unchecked }, 'on-call access could not be checked: it keeps its end until the next check');
  if (sweep.ended.length > 0) ctx.logger.info({ grantIds: sweep.ended }, 'on-call access ended: its holder is no longer covered by the rule');
  return sweep;
}

/** The request's live grant ends now, with its audit event; null when it has ended meanwhile. */
async function endGrantOf(ctx: ServiceContext, requestId: string, rule: AutoApprovalRule, because: string): Promise<string | null> {
  const now = ctx.clock.now();
  const reason = `the on-call rule ${rule.name} no longer covers it: ${because}`;
  return inTransaction(ctx.db, async (tx) => {
    // The request's lock first, as "I'm done" takes it: the two cannot both end the grant.
    const locked = await lockRequest(tx, requestId);
    if (!locked || locked.state !== 'active') return null;
    const grant = await tx.grant.findUnique({ where: { requestId } });
    if (!grant || grant.revokedAt || !grant.expiresAt || grant.expiresAt <= now) return null;
    await tx.grant.update({ where: { id: grant.id }, data: { endRequestedAt: now, expiresAt: now, revokeReason: reason, revokedBySlackId: `policy:${rule.name}` } });
    await appendAuditEvent(tx, { actor: `policy:${rule.name}`, action: 'grant.end_requested', requestId, at: now, data: { grantId: grant.id, reason, originalExpiresAt: grant.expiresAt.toISOString() } });
    return grant.id;
  });
}
