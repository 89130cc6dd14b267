import { readStoredScope } from '../domain/scope-rules.ts';
import type { ProviderSettings } from '../domain/policy.ts';
import { canTransition } from '../domain/request-state.ts';
import type { PolicyMismatch } from '../domain/stored-request-fit.ts';
import type { AccessProvider, ProviderFailure } from '../providers/provider.ts';
import { appendAuditEvent, type AuditEntry } from '../store/audit-log.ts';
import type { Prisma } from '../store/generated/client.ts';
import type { Database } from '../store/database.ts';
import type { SqlTransaction } from '../store/sql-transaction.ts';
import { inSqlTransaction } from '../store/transaction.ts';
import { isLiveGrant } from './access-chain.ts';
import { oneLine, type AccessContext } from './access-context.ts';
import { handOver } from './decide-request.ts';
import { failureNotice, type FailureSource } from './failure-notice.ts';
import { publishCommitted } from './latch-events.ts';
import { recheckStoredRequest } from './recheck-policy.ts';
import { requesterAccountRefused } from './requester-principal.ts';
import { accessKeyOf } from './same-access.ts';
import { readGrantOfRequest } from '../store/grant-reads.ts';
import { closeFailedGrant, completeGrant, recordGrantError, startGrantAttempt } from '../store/grant-writes.ts';
import { endRequest } from '../store/request-end.ts';
import { lockRequest } from '../store/request-lock.ts';
import { readRequest } from '../store/request-reads.ts';

export interface GrantAccessInput {
  requestId: string;
  /** The job will not retry after this attempt: a transient failure now fails the request. */
  finalAttempt: boolean;
}

export type GrantAccessResult =
  /** Access exists; its revocation at `expiresAt` is queued. */
  | { outcome: 'granted'; requestId: string; grantId: string; expiresAt: Date }
  /** The request starts later; try again then. */
  | { outcome: 'not_yet'; startsAt: Date }
  /** Nothing to do: the request is not (or no longer) waiting to be granted. */
  | { outcome: 'skipped'; reason: string }
  /** A transient failure (the provider's, recorded; or Slack unable to say who asked); retrying may help. */
  | { outcome: 'retry'; message: string }
  /**
   * Latch gave up: the request is `failed`, and published so. When the provider's last word was
   * transient, the access may exist all the same (a timeout after the target acted):
   * `cleanupGrantId` names the grant whose revocation is queued at once.
   */
  | { outcome: 'failed'; requestId: string; message: string; cleanupGrantId: string | null };

/**
 * Where the duration counts from: the moment of the grant, except for more time on access still
 * live, which runs on from that access's end so nothing lapses and nothing is counted twice.
 */
async function durationStart(tx: SqlTransaction | Database, extendsRequestId: string | null, grantedAt: Date): Promise<Date> {
  if (!extendsRequestId) return grantedAt;
  const extended = await readGrantOfRequest(tx, extendsRequestId);
  return isLiveGrant(extended) && extended.expiresAt > grantedAt ? extended.expiresAt : grantedAt;
}

/**
 * Makes an approved request's access real through its provider. Safe to run any number of times
 * for one request (job retries, a duplicate job, the reconcile job): the grant row is created
 * once, the provider call is idempotent, and only an `approved` request is granted.
 *
 * The provider call happens outside any database transaction, under the access lock (see
 * AccessLocks): a short transaction before it counts the attempt, a short one after it records
 * the outcome with its audit event. The duration counts from the moment the provider confirmed.
 *
 * After the commit it queues what follows, the revocation at expiry (or at once, for what a failed
 * grant may have left behind), then publishes `access.granted` or `grant.failed`.
 */
export async function grantAccess(ctx: AccessContext, input: GrantAccessInput): Promise<GrantAccessResult> {
  const result = await attemptGrant(ctx, input);
  if (result.outcome === 'granted') {
    await handOver(ctx, () => ctx.access.scheduleRevocation(result.grantId, result.expiresAt), result.requestId);
    await publishCommitted(ctx, { type: 'access.granted', requestId: result.requestId, grantId: result.grantId });
  }
  if (result.outcome === 'failed') {
    const { cleanupGrantId } = result;
    if (cleanupGrantId) await handOver(ctx, () => ctx.access.scheduleRevocation(cleanupGrantId, ctx.clock.now()), result.requestId);
    await publishCommitted(ctx, { type: 'grant.failed', requestId: result.requestId });
  }
  return result;
}

async function attemptGrant(ctx: AccessContext, input: GrantAccessInput): Promise<GrantAccessResult> {
  const request = await readRequest(ctx.db, input.requestId);
  if (!request) return { outcome: 'skipped', reason: 'the request does not exist' };
  if (request.state !== 'approved') return { outcome: 'skipped', reason: `the request is ${request.state}` };
  if (request.startsAt && request.startsAt > ctx.clock.now()) return { outcome: 'not_yet', startsAt: request.startsAt };

  // The policy in force, not the one it was approved under, decides whether it is granted: a
  // reload since (or during a later start's wait) may have removed or narrowed what it asks for.
  const fit = await recheckStoredRequest(ctx, request, 'grant');
  if (!fit.fits) return refuseGrant(ctx, request.id, { code: fit.code, message: fit.message, reason: `The policy changed before the access was granted: ${fit.message}` });
  // The requester's Slack account too, as when they asked: one who became a guest (where guests are
  // not allowed), was deactivated or left for another workspace while the request waited is no
  // longer someone Latch gives access to. Slack unable to say is no answer: retried, never granted.
  const accountRefused = await requesterAccountRefused(ctx, fit.resource, request.requesterSlackId);
  if (accountRefused?.refusal.code === 'profile_unavailable') return profileUnavailable(ctx, request.id);
  if (accountRefused) return refuseGrant(ctx, request.id, { code: 'identity_refused', message: accountRefused.refusal.message, reason: `The requester's Slack account changed before the access was granted: ${accountRefused.refusal.message}` });
  const providerSettings = fit.resource.provider;
  const provider = ctx.providerFor(request.resourceId);
  if (!provider) return fail(ctx, request.id, null, permanentFailure(`the policy no longer configures a provider for ${request.resourceId}`), 'unconfigured');
  if (!request.principal) return fail(ctx, request.id, null, permanentFailure('the request names no account to grant to'), 'no_account');
  const principal = request.principal;
  const singleUse = fit.resource.roles.find((role) => role.id === request.role)?.uses === 1;
  // Checked readable and allowed by the policy in force just above (recheckStoredRequest).
  const scope = readStoredScope(request.scope);
  // A provider that knows nothing of scopes would grant the whole role: never widen a request.
  if (scope && !provider.checkScope) return fail(ctx, request.id, null, permanentFailure(`the provider of ${request.resourceId} (${provider.type}) does not take scopes; Latch will not grant the whole role for a scoped request`), 'unconfigured');

  return ctx.locks.withLock(accessKeyOf(ctx, { resourceId: request.resourceId, role: request.role, principal }), async (): Promise<GrantAccessResult> => {
    const grant = await startGrantAttempt(ctx.db, { requestId: request.id, provider: provider.type, providerSettings: toJson(providerSettings), principal, resourceId: request.resourceId, role: request.role });
    if (!grant) return { outcome: 'skipped', reason: 'the request is no longer approved' };

    // The end as it will be recorded (more time runs on from the extended access's end): a target
    // that enforces it itself (a login's VALID UNTIL) must not end the access before Latch does.
    const expectedStart = await durationStart(ctx.db, request.extendsRequestId, ctx.clock.now());
    const target = {
      grantId: grant.id,
      requestId: request.id,
      resourceId: request.resourceId,
      role: request.role,
      principal,
      expiresAt: new Date(expectedStart.getTime() + request.durationSeconds * 1000),
      ...(singleUse ? { singleUse } : {}),
      ...(scope && scope !== 'invalid' ? { scope } : {}),
    };
    const result = await provider.grant(target).catch((error: unknown) => ({ ok: false as const, failure: thrownFailure(error) }));
    if (!result.ok) {
      const source = { provider: provider.type, kind: result.failure.kind };
      if (result.failure.kind === 'transient' && !input.finalAttempt) return recordFailedAttempt(ctx, request.id, grant.id, grant.grantAttempts, result.failure, source);
      return fail(ctx, request.id, grant.id, result.failure, source);
    }

    const effectiveEndLagSeconds = await effectiveEndLag(ctx, provider, request.role, request.id);
    const grantedAt = ctx.clock.now();
    // Someone ended the request while the provider worked (the request is no longer approved, or
    // the grant's end was asked for): the access exists, so it must be revoked at once, not after
    // its full duration. completeGrant locks the request and reads both as it updates them, and
    // appends the audit event for what it found, in one statement.
    const complete = (on: Database | SqlTransaction, start: Date) => {
      const expiresAt = new Date(start.getTime() + request.durationSeconds * 1000);
      const event = (endedMeanwhile: boolean): AuditEntry => ({
        actor: 'latch',
        action: 'grant.granted',
        requestId: request.id,
        at: grantedAt,
        data: { grantId: grant.id, provider: provider.type, principal, expiresAt: (endedMeanwhile ? grantedAt : expiresAt).toISOString(), attempt: grant.grantAttempts, endedMeanwhile, effectiveEndLagSeconds },
      });
      return completeGrant(on, { requestId: request.id, grantId: grant.id, grantedAt, expiresAt, effectiveEndLagSeconds, event: { wanted: event(false), endedMeanwhile: event(true) } });
    };
    // More time on live access runs on from that access's end, read under the request's lock: a
    // transaction for that. Otherwise the statement is the grant's whole write.
    const { expiresAt } = request.extendsRequestId
      ? await inSqlTransaction(ctx.db, async (tx) => {
          const extending = await lockRequest(tx, request.id);
          return complete(tx, extending?.state === 'approved' ? await durationStart(tx, request.extendsRequestId, grantedAt) : grantedAt);
        })
      : await complete(ctx.db, grantedAt);
    ctx.logger.info({ accessRequestId: request.id, grantId: grant.id, expiresAt }, 'access granted');
    return { outcome: 'granted', requestId: request.id, grantId: grant.id, expiresAt };
  });
}

/**
 * How long sessions started from the access may outlive its revocation, where the provider says
 * (capabilities.reportsEffectiveEndLag). The access exists already, so a failure to say does not
 * undo it: it is logged, and people are shown the access's end alone, as for any other target.
 */
async function effectiveEndLag(ctx: AccessContext, provider: AccessProvider, role: string, requestId: string): Promise<number | null> {
  if (!provider.effectiveEndLag) return null;
  const answer = await provider.effectiveEndLag(role).catch((error: unknown) => ({ ok: false as const, failure: thrownFailure(error) }));
  if (answer.ok) return answer.value !== null && Number.isSafeInteger(answer.value) && answer.value > 0 ? answer.value : null;
  ctx.logger.warn({ accessRequestId: requestId, failure: oneLine(answer.failure.message), kind: answer.failure.kind }, 'the provider could not say how long sessions outlive the access');
  return null;
}

/**
 * The provider's own message (`failure.message`, which may quote the target) goes to the log and
 * the audit event; the grant's lastError, which Slack may show, gets Latch's fixed notice.
 */
async function recordFailedAttempt(ctx: AccessContext, requestId: string, grantId: string, attempt: number, failure: ProviderFailure, source: FailureSource): Promise<GrantAccessResult> {
  const now = ctx.clock.now();
  const message = oneLine(failure.message);
  const notice = failureNotice('grant', source);
  await inSqlTransaction(ctx.db, async (tx) => {
    await recordGrantError(tx, grantId, notice.text, now);
    await appendAuditEvent(tx, { actor: 'latch', action: 'grant.attempt_failed', requestId, at: now, data: { grantId, attempt, kind: failure.kind, message, ref: notice.ref } });
  });
  ctx.logger.warn({ accessRequestId: requestId, grantId, attempt, failure: message, ref: notice.ref }, 'grant attempt failed; it will be retried');
  return { outcome: 'retry', message };
}

/** Why the grant refuses an approved request: its audit code, the message, and the reason people read. */
interface GrantRefusal {
  code: PolicyMismatch | 'identity_refused';
  message: string;
  reason: string;
}

/**
 * The policy in force, or the requester's Slack account, no longer allows an approved request: it
 * becomes `failed`, the honest state for access approved but never given, with the reason and its
 * code in the audit event. An attempt that may have reached the target (a grant row from an
 * earlier, unanswered try) is left due for revocation now, as after a transient failure.
 */
async function refuseGrant(ctx: AccessContext, requestId: string, refusal: GrantRefusal): Promise<GrantAccessResult> {
  const earlier = await readGrantOfRequest(ctx.db, requestId);
  const unsure = earlier !== null && earlier.revokedAt === null;
  return fail(ctx, requestId, earlier?.id ?? null, { kind: unsure ? 'transient' : 'permanent', message: refusal.message }, 'unconfigured', refusal);
}

/**
 * Slack could not say who the requester is: nothing is granted and nothing recorded; the job is
 * retried on its backoff, and the reconcile job queues it again after the last attempt, since the
 * request stays approved.
 */
function profileUnavailable(ctx: AccessContext, requestId: string): GrantAccessResult {
  const message = "Slack could not say just now whether the requester's account may still be given access";
  ctx.logger.warn({ accessRequestId: requestId }, `${message}; the grant will be retried`);
  return { outcome: 'retry', message };
}

/**
 * The request becomes `failed`, with the reason people will read: Latch's fixed notice, never the
 * provider's words (those go to the log and the audit event, under the notice's reference). After
 * a permanent failure the target refused, so nothing exists and the grant is closed; after a
 * transient one the target's state is unknown, so the grant is left due for revocation now. A
 * refusal (by the policy, or of the requester's account) tells its own reason: Latch's words.
 */
async function fail(ctx: AccessContext, requestId: string, grantId: string | null, failure: ProviderFailure, source: FailureSource, refusal?: GrantRefusal): Promise<GrantAccessResult> {
  const now = ctx.clock.now();
  const message = oneLine(failure.message);
  const notice = failureNotice('grant', source);
  const cleanup = grantId !== null && failure.kind === 'transient';
  const failed = await inSqlTransaction(ctx.db, async (tx) => {
    const request = await lockRequest(tx, requestId);
    if (!request || !canTransition(request.state, 'failed')) return false;
    await endRequest(tx, requestId, { state: 'failed', endedAt: now, outcomeReason: refusal ? oneLine(refusal.reason) : notice.text });
    if (grantId !== null) await closeFailedGrant(tx, grantId, notice.text, now, cleanup);
    await appendAuditEvent(tx, {
      actor: 'latch',
      action: 'grant.failed',
      requestId,
      at: now,
      data: { grantId, kind: failure.kind, message, cleanup, ref: notice.ref, ...(refusal ? { code: refusal.code, policyVersion: ctx.policy().version } : {}) },
    });
    return true;
  });
  if (!failed) return { outcome: 'skipped', reason: 'the request is no longer approved' };
  ctx.logger.error({ accessRequestId: requestId, grantId, failure: message, kind: failure.kind, ref: notice.ref }, 'granting access failed; the request is failed');
  return { outcome: 'failed', requestId, message, cleanupGrantId: cleanup ? grantId : null };
}

function permanentFailure(message: string): ProviderFailure {
  return { kind: 'permanent', message };
}

/** A provider that throws broke its contract; treat it as transient, since retrying may help. */
export function thrownFailure(error: unknown): ProviderFailure {
  return { kind: 'transient', message: `unexpected provider error: ${error instanceof Error ? error.message : String(error)}` };
}

/** Stored as the policy holds them: plain JSON, validated again when read (see revoke-grant.ts). */
function toJson(settings: ProviderSettings): Prisma.InputJsonObject {
  return JSON.parse(JSON.stringify({ type: settings.type, settings: settings.settings })) as Prisma.InputJsonObject;
}
