import { z } from 'zod';
import { findResource, sameProviderSettings } from '../domain/policy.ts';
import { canTransition, REQUEST_STATES } from '../domain/request-state.ts';
import type { AccessProvider, ProviderFailure, ProviderGrant, ProviderResult } from '../providers/provider.ts';
import { inTransactionSpan } from '../observability/transaction-span.ts';
import { appendAuditEvent } from '../store/audit-log.ts';
import type { Grant } from '../store/generated/client.ts';
import { readStoredScope } from '../domain/scope-rules.ts';
import { grantAndCoveringOf, grantAndCoveringRead, readGrant, type GrantAndCoveringRow } from '../store/grant-reads.ts';
import { recordRevocationError } from '../store/grant-writes.ts';
import { inSqlTransaction } from '../store/transaction.ts';
import { oneLine, type AccessContext } from './access-context.ts';
import { failureNotice } from './failure-notice.ts';
import { thrownFailure } from './grant-access.ts';
import { publishCommitted } from './latch-events.ts';
import { accessKeyOf, sameAccessRoles } from './same-access.ts';

/**
 * After this many failed attempts (or the first permanent failure) a revocation is overdue: the
 * security channel is told, once, and the job falls back to its slow retry schedule.
 */
export const REVOCATION_ALERT_AFTER_ATTEMPTS = 5;

export type RevokeGrantResult =
  /** The access is gone, or another active grant still covers it and this one is closed. */
  | {
      outcome: 'revoked';
      requestId: string;
      grantId: string;
      providerCalled: boolean;
      coveredBy: string[];
      wasOverdue: boolean;
      /** When the access was due to end (the grant's expiresAt), and when it was taken away. */
      dueAt: Date;
      revokedAt: Date;
      /** The provider type the grant was made through. */
      provider: string;
      /**
       * When the provider, looking at the target again, found the access gone (the revocation's
       * own time); null when it was not looked at: a provider that cannot verify, or a grant
       * closed while another covers the access.
       */
      verifiedAt: Date | null;
    }
  /** Nothing to do: the grant is revoked already, or was never completed. */
  | { outcome: 'nothing'; reason: string }
  /** Not due yet (extended, or the job ran early): run again at `dueAt`. */
  | { outcome: 'not_due'; dueAt: Date }
  /** The provider failed; recorded. `alert` is true the one time the security channel must hear of it. */
  | { outcome: 'retry'; requestId: string; grantId: string; message: string; attempts: number; permanent: boolean; alert: boolean };

/**
 * Takes away a grant's access once it is due. Idempotent: a revoked grant stays revoked, and a
 * provider's revoke succeeds when the access is already gone.
 *
 * Overlapping grants: when another active grant gives the same principal the same role on the same
 * resource, or the same thing in the target through another resource or role (same-access.ts),
 * the access must outlive this grant. A scoped grant is its own access (its own target objects,
 * keyed by its request): it never covers another grant and is never covered by one. Under the access lock (no grant or revoke of the
 * same access can run meanwhile) Latch looks for such a grant; if there is one, this grant is
 * closed without calling the provider, and the access ends when the last covering grant does.
 *
 * Once the access lock is let go it publishes what happened: the access ended (and an overdue
 * revocation recovered), or, the one time it must be heard, a revocation overdue.
 */
export async function revokeGrant(ctx: AccessContext, grantId: string): Promise<RevokeGrantResult> {
  const result = await attemptRevocation(ctx, grantId);
  if (result.outcome === 'revoked') {
    const { requestId } = result;
    await publishCommitted(ctx, { type: 'access.ended', requestId, grantId });
    if (result.wasOverdue) await publishCommitted(ctx, { type: 'revocation.recovered', requestId, grantId });
  }
  if (result.outcome === 'retry' && result.alert) await publishCommitted(ctx, { type: 'revocation.overdue', requestId: result.requestId, grantId });
  return result;
}

async function attemptRevocation(ctx: AccessContext, grantId: string): Promise<RevokeGrantResult> {
  const grant = await readGrant(ctx.db, grantId);
  const early = earlyOutcome(grant, ctx.clock.now());
  if (early) return early;
  const access = { resourceId: grant!.resourceId, role: grant!.role, principal: grant!.principal };

  // The same access may come from another resource or role (one Slack user group behind two
  // resources): a grant through any of them covers it (see same-access.ts).
  const same = sameAccessRoles(ctx, access.resourceId, access.role);
  // Read once the lock is held, in the lock's own round trip: the grant as it is now (another
  // worker may have finished it while this one waited for the lock), and any other active grant
  // that covers the same access. `now` is taken before the lock: a grant that ends while this one
  // waits still counts as covering, which only keeps access a moment longer, never ends it early.
  const now = ctx.clock.now();
  const underLock = grantAndCoveringRead(grantId, access.principal, same, now);
  return ctx.locks.withLockAndRead(accessKeyOf(ctx, access), underLock, async (rows: GrantAndCoveringRow[]): Promise<RevokeGrantResult> => {
    const { grant: current, covering, scope: storedScope } = grantAndCoveringOf(rows, grantId);
    const stillNothing = earlyOutcome(current, now);
    if (stillNothing) return stillNothing;
    const due = current!;
    let verified = false;
    if (covering.length === 0) {
      const provider = await revocationProvider(ctx, due);
      const scope = readStoredScope(storedScope);
      const target: ProviderGrant = {
        grantId: due.id,
        requestId: due.requestId,
        resourceId: due.resourceId,
        role: due.role,
        principal: due.principal,
        expiresAt: due.expiresAt!,
        // A help, never a need: a provider finds what a scoped grant made by its request id.
        ...(scope && scope !== 'invalid' ? { scope } : {}),
      };
      // Compared with the target's own clock (when its sessions began), so the host's time, not the
      // use cases' clock, which tests may set anywhere.
      const startedAt = new Date();
      const result = provider
        ? await provider.revoke(target).catch((error: unknown) => ({ ok: false as const, failure: thrownFailure(error) }))
        : {
            ok: false as const,
            failure: {
              kind: 'permanent' as const,
              message: `no provider can reach ${due.resourceId} any more (it left the policy, or its settings cannot be built); Latch keeps retrying: restore it, or remove the access by hand`,
            },
          };
      if (!result.ok) return recordFailedRevocation(ctx, due, result.failure, provider !== undefined);
      const verification = await verifyRevocation(provider!, target, startedAt);
      if (!verification.ok) return recordFailedRevocation(ctx, due, verification.failure, true);
      verified = verification.value;
    }
    return recordRevocation(ctx, due, covering.map((grant) => grant.id), covering.length === 0, verified);
  });
}

/**
 * Asks the provider to look at the target again after it reported the revocation done: true when
 * it found the access gone, false when the provider cannot look (capabilities.verifiesRevocation, or
 * a webhook whose receiver is not said to answer check).
 * Access still in place is a failed revocation like any other, transient so that it is retried,
 * and alerted as overdue once it has failed long enough; a look that fails is one too.
 */
async function verifyRevocation(provider: AccessProvider, target: ProviderGrant, since: Date): Promise<ProviderResult<boolean>> {
  if (!provider.verifyRevoked) return { ok: true, value: false };
  const looked = await provider.verifyRevoked(target, since).catch((error: unknown) => ({ ok: false as const, failure: thrownFailure(error) }));
  if (!looked.ok) return { ok: false, failure: { kind: 'transient', message: `the revocation could not be verified: ${looked.failure.message}` } };
  if (looked.value === null) return { ok: true, value: false };
  if (!looked.value.gone) {
    return { ok: false, failure: { kind: 'transient', message: `the provider reported the revocation done, but the access remains: ${looked.value.remains}` } };
  }
  return { ok: true, value: true };
}

const recordedSettingsSchema = z.object({ type: z.string().min(1), settings: z.record(z.string(), z.unknown()) });

/**
 * Who takes the access away: the provider the grant was made through. While the policy in force
 * still configures the resource with the same settings, that is its provider; once a reload
 * removed the resource or changed its provider, one is built from the settings the grant recorded,
 * so access is never orphaned by a policy edit. A grant from before settings were recorded can
 * only use the policy's provider.
 */
async function revocationProvider(ctx: AccessContext, grant: Grant): Promise<AccessProvider | undefined> {
  const recorded = recordedSettingsSchema.safeParse(grant.providerSettings);
  const resource = findResource(ctx.policy(), grant.resourceId);
  if (!recorded.success) return resource ? ctx.providerFor(grant.resourceId) : undefined;
  if (resource && sameProviderSettings(resource.provider, recorded.data)) return ctx.providerFor(grant.resourceId);
  return ctx.providerForSettings?.(recorded.data);
}

function earlyOutcome(grant: Grant | null, now: Date): RevokeGrantResult | null {
  if (!grant) return { outcome: 'nothing', reason: 'the grant does not exist' };
  if (grant.revokedAt) return { outcome: 'nothing', reason: 'the grant is already revoked' };
  // No expiry yet means the grant job has not finished; it sets one when it does.
  if (!grant.expiresAt) return { outcome: 'nothing', reason: 'the grant is not complete yet' };
  if (grant.expiresAt > now) return { outcome: 'not_due', dueAt: grant.expiresAt };
  return null;
}

async function recordRevocation(ctx: AccessContext, grant: Grant, coveredBy: string[], providerCalled: boolean, verified: boolean): Promise<RevokeGrantResult> {
  // Still under the access lock: it is released only once the revocation is committed.
  const at = ctx.clock.now();
  await revocationWriter(ctx.db).write({ grant, coveredBy, providerCalled, verified, at });
  ctx.logger.info({ accessRequestId: grant.requestId, grantId: grant.id, providerCalled, coveredBy, verified }, 'access revoked');
  return {
    outcome: 'revoked',
    requestId: grant.requestId,
    grantId: grant.id,
    providerCalled,
    coveredBy,
    wasOverdue: grant.overdueAlertedAt !== null,
    dueAt: grant.expiresAt!,
    revokedAt: at,
    provider: grant.provider,
    verifiedAt: verified ? at : null,
  };
}

interface Revocation {
  grant: Grant;
  coveredBy: string[];
  providerCalled: boolean;
  /** The provider looked at the target afterwards and found the access gone: verifiedRevokedAt is `at`. */
  verified: boolean;
  /** When the access was taken away: the grant's revokedAt and its audit event's time. */
  at: Date;
}

/** Revocations written in one statement at most; a burst beyond it takes several. */
const MAX_REVOCATIONS_PER_TRANSACTION = 200;
/** Statements a process has in flight at once: one can be on its way while another holds the audit lock. */
const MAX_TRANSACTIONS_IN_FLIGHT = 2;

type WaitingRevocation = Revocation & { done(): void; failed(error: unknown): void };

/**
 * Writes revocations to PostgreSQL, several in one statement when they are done at the same
 * moment (group commit). Every audit append takes its turn on the audit chain's lock, which every
 * writer in every process queues on; a transaction per revocation capped all revocations at a few
 * hundred a second however many workers ran. Here, revocations that finish while a statement is
 * being written wait for the next one, which writes them all under one turn of the lock. A quiet
 * moment pays nothing: a lone revocation is written at once, alone.
 *
 * Each revocation's state change and its audit event still commit together, in the same
 * statement (its own transaction); a statement that fails is written again one revocation at a
 * time, so one bad revocation cannot hold back the others.
 */
class RevocationWriter {
  private readonly waiting: WaitingRevocation[] = [];
  private inFlight = 0;

  constructor(private readonly db: AccessContext['db']) {}

  write(revocation: Revocation): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ ...revocation, done: resolve, failed: reject });
      this.startTransactions();
    });
  }

  private startTransactions(): void {
    while (this.inFlight < MAX_TRANSACTIONS_IN_FLIGHT && this.waiting.length > 0) {
      const batch = this.waiting.splice(0, MAX_REVOCATIONS_PER_TRANSACTION);
      this.inFlight++;
      void this.commit(batch).finally(() => {
        this.inFlight--;
        this.startTransactions();
      });
    }
  }

  private async commit(batch: WaitingRevocation[]): Promise<void> {
    try {
      settle(batch, await writeRevocations(this.db, batch));
    } catch (error) {
      if (batch.length === 1) return batch[0]!.failed(error);
      await Promise.all(batch.map((revocation) => writeRevocations(this.db, [revocation]).then((closed) => settle([revocation], closed), revocation.failed)));
    }
  }
}

/** Done for each revocation whose grant the statement closed; a grant that was not there fails its own revocation only. */
function settle(batch: readonly WaitingRevocation[], closed: ReadonlySet<string>): void {
  for (const revocation of batch) {
    if (closed.has(revocation.grant.id)) revocation.done();
    else revocation.failed(new Error(`the grant ${revocation.grant.id} is missing: its revocation was not recorded`));
  }
}

const writers = new WeakMap<AccessContext['db'], RevocationWriter>();

function revocationWriter(db: AccessContext['db']): RevocationWriter {
  let writer = writers.get(db);
  if (!writer) writers.set(db, (writer = new RevocationWriter(db)));
  return writer;
}

/** The request states a revocation ends (the domain's transitions, not a copy of them). */
const ENDS_REQUESTS_IN = REQUEST_STATES.filter((state) => canTransition(state, 'revoked'));

/**
 * One statement, so one round trip and its own transaction: lock the requests (in id order, so two
 * writers never deadlock), close the grants, end the requests that can still end, and append an
 * audit event for each grant closed (latch_append_audit_events, as store/audit-log.ts writes them,
 * chained at the statement's commit: the chain's lock, the head read once the lock is had, hashed
 * in the database).
 *
 * Why one statement (issue 19): a revocation job holds its worker slot, and its access lock,
 * until its revocation is committed, and a worker runs a bounded number at once, so revocations a
 * second are those slots divided by the time each one waits. As a transaction (BEGIN, lock, update,
 * append, COMMIT) the write was five round trips of the nine a revocation made, two of them with the
 * audit chain's lock held while the client answered; at 500 due a second the slots filled and a
 * backlog built up (bench: 40,000 grants over 80 s, p50 5–22 s late, every slot busy, PostgreSQL
 * idle). As one statement, no round trip waits in the middle of it (and since migration
 * 20261207120000 the chain's lock is taken at its commit, for the commit alone).
 *
 * Gives back the ids of the grants closed: all of them, unless a grant row is gone, whose
 * revocation then records nothing (no event, no request ended) and fails alone.
 */
async function writeRevocations(db: AccessContext['db'], revocations: readonly Revocation[]): Promise<Set<string>> {
  const reasonOf = (grant: Grant) => grant.revokeReason ?? 'expired';
  const { rows } = await inTransactionSpan(() =>
    db.pool.query<{ closed: string[] }>(WRITE_REVOCATIONS, [
      new Date(),
      revocations.map(({ grant }) => grant.id),
      // Millisecond precision, as the audit chain hashes and stores its times (timestamptz(3)).
      revocations.map(({ at }) => at.toISOString()),
      revocations.map(({ grant }) => reasonOf(grant)),
      revocations.map(({ providerCalled }) => (providerCalled ? 1 : 0)),
      revocations.map(({ verified }) => verified),
      revocations.map(({ grant }) => grant.requestId),
      revocations.map(({ grant }) => outcomeReasonFor(reasonOf(grant))),
      revocations.map(({ grant }) => grant.revokedBySlackId ?? 'latch'),
      revocations.map(({ grant, coveredBy, providerCalled, verified, at }) =>
        JSON.stringify({
          grantId: grant.id,
          reason: reasonOf(grant),
          providerCalled,
          coveredBy,
          // Through which provider type, and whether it looked at the target afterwards and found
          // the access gone (the digests' lateness per provider reads both).
          provider: grant.provider,
          verified,
          dueAt: grant.expiresAt!.toISOString(),
          lateBySeconds: Math.max(0, Math.round((at.getTime() - grant.expiresAt!.getTime()) / 1000)),
        }),
      ),
      ENDS_REQUESTS_IN,
    ]),
  );
  return new Set(rows[0]?.closed ?? []);
}

// The CTEs that read each other's results run in that order; `locked` is read by `ended`, so its
// row locks are taken. The events are appended in the order given (`n`), for the grants closed.
const WRITE_REVOCATIONS = `
  WITH v AS (
    SELECT * FROM unnest($2::uuid[], $3::timestamptz[], $4::text[], $5::int[], $6::boolean[], $7::uuid[], $8::text[], $9::text[], $10::jsonb[])
      WITH ORDINALITY AS v(grant_id, at, reason, attempts, verified, request_id, outcome_reason, actor, data, n)
  ), locked AS (
    SELECT r.id, r.state FROM access_requests AS r WHERE r.id IN (SELECT request_id FROM v) ORDER BY r.id FOR UPDATE
  ), closed AS (
    UPDATE grants AS g
       SET revoked_at = v.at, revoke_reason = v.reason, revoke_attempts = g.revoke_attempts + v.attempts,
           verified_revoked_at = CASE WHEN v.verified THEN v.at END,
           last_error = NULL, last_error_at = NULL, updated_at = $1::timestamptz
      FROM v
     WHERE g.id = v.grant_id
    RETURNING g.id
  ), ended AS (
    UPDATE access_requests AS r
       SET state = 'revoked', ended_at = v.at, outcome_reason = v.outcome_reason, updated_at = $1::timestamptz
      FROM v JOIN locked AS l ON l.id = v.request_id
     WHERE r.id = v.request_id AND l.state = ANY($11::request_state[]) AND v.grant_id IN (SELECT id FROM closed)
    RETURNING r.id
  ), appended AS (
    SELECT latch_append_audit_events(
             array_agg(v.at ORDER BY v.n), array_agg(v.actor ORDER BY v.n), array_agg('grant.revoked'::text ORDER BY v.n),
             array_agg(v.request_id ORDER BY v.n), array_agg(v.data ORDER BY v.n),
             array_agg(NULL::text ORDER BY v.n), array_agg(NULL::text ORDER BY v.n), array_agg(NULL::text ORDER BY v.n))
      FROM v
     WHERE v.grant_id IN (SELECT id FROM closed)
    HAVING count(*) > 0
  )
  SELECT array(SELECT id::text FROM closed) AS closed, (SELECT count(*) FROM ended)::int AS ended, (SELECT count(*) FROM appended)::int AS appended`;

/**
 * The provider's own message goes to the log and the audit event; the grant's lastError, which the
 * overdue alert and the approval message show, gets Latch's fixed notice with its reference.
 */
async function recordFailedRevocation(ctx: AccessContext, grant: Grant, failure: ProviderFailure, configured: boolean): Promise<RevokeGrantResult> {
  const now = ctx.clock.now();
  const message = oneLine(failure.message);
  const notice = failureNotice('revocation', configured ? { provider: grant.provider, kind: failure.kind } : 'unconfigured');
  const attempts = grant.revokeAttempts + 1;
  const overdue = failure.kind === 'permanent' || attempts >= REVOCATION_ALERT_AFTER_ATTEMPTS;
  const alert = overdue && grant.overdueAlertedAt === null;
  await inSqlTransaction(ctx.db, async (tx) => {
    await recordRevocationError(tx, grant.id, attempts, notice.text, now, alert);
    await appendAuditEvent(tx, {
      actor: 'latch',
      action: alert ? 'grant.revocation_overdue' : 'grant.revoke_failed',
      requestId: grant.requestId,
      at: now,
      data: { grantId: grant.id, attempt: attempts, kind: failure.kind, message, ref: notice.ref },
    });
  });
  ctx.logger.error({ accessRequestId: grant.requestId, grantId: grant.id, attempt: attempts, failure: message, kind: failure.kind, ref: notice.ref }, 'revocation failed; it will be retried');
  return { outcome: 'retry', requestId: grant.requestId, grantId: grant.id, message, attempts, permanent: failure.kind === 'permanent', alert };
}

/** What the requester and approvers read about how the access ended. */
function outcomeReasonFor(revokeReason: string): string {
  switch (revokeReason) {
    case 'expired':
      return 'The access expired.';
    case 'grant failed':
      return 'Access could not be granted.';
    default:
      // "ended early by the requester" → "Ended early by the requester."
      return `${revokeReason.charAt(0).toUpperCase()}${revokeReason.slice(1)}.`;
  }
}
