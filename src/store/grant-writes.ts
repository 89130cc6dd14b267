import type { Database } from './database.ts';
import type { Grant } from './generated/client.ts';
import { grantColumns } from './table-columns.ts';
import { SqlTransaction } from './sql-transaction.ts';
import { auditEventArguments, type AuditEntry } from './audit-log.ts';
import { inTransactionSpan } from '../observability/transaction-span.ts';
import { preparedStatement, runPrepared } from './prepared-statement.ts';
import { uuidV7 } from './uuid-v7.ts';

export interface GrantAttempt {
  requestId: string;
  provider: string;
  /** The provider's type and settings from the policy (plain JSON). */
  providerSettings: unknown;
  principal: string;
  resourceId: string;
  role: string;
}

const GRANT = grantColumns('grants');

const START_GRANT_ATTEMPT = preparedStatement(
  'start_grant_attempt',
  `INSERT INTO grants (id, request_id, provider, provider_settings, principal, resource_id, role, grant_attempts, updated_at)
   SELECT $1, r.id, $3, $4::jsonb, $5, $6, $7, 1, now() FROM access_requests AS r WHERE r.id = $2 AND r.state = 'approved' FOR UPDATE
   ON CONFLICT (request_id) DO UPDATE SET grant_attempts = grants.grant_attempts + 1, provider_settings = EXCLUDED.provider_settings, updated_at = now()
   RETURNING ${GRANT}`,
);

/**
 * Counts an attempt to grant an approved request: creates its grant row the first time, counts
 * one more attempt after that. One statement, its own transaction: it locks the request's row
 * while it checks that the request is still approved, so a request cancelled meanwhile gets no
 * attempt (null).
 */
export async function startGrantAttempt(db: Database, attempt: GrantAttempt): Promise<Grant | null> {
  const { rows } = await runPrepared<Grant>(db.pool, START_GRANT_ATTEMPT, [
    uuidV7(),
    attempt.requestId,
    attempt.provider,
    JSON.stringify(attempt.providerSettings),
    attempt.principal,
    attempt.resourceId,
    attempt.role,
  ]);
  return rows[0] ?? null;
}

export interface GrantDone {
  requestId: string;
  grantId: string;
  grantedAt: Date;
  /** When the access ends if it is still wanted. */
  expiresAt: Date;
  /** How long sessions may outlive the revocation, as the provider said (null: nothing does). */
  effectiveEndLagSeconds: number | null;
  /**
   * The grant's audit event, as it is recorded when the access is still wanted (ending at
   * `expiresAt`), and when it was ended meanwhile (ending at `grantedAt`, revoked at once).
   */
  event: { wanted: AuditEntry; endedMeanwhile: AuditEntry };
}

/**
 * Records the provider's grant and its audit event in one statement: it locks the request's row
 * (a lock that waited reads the row as its holder committed it), and if the request is still
 * approved and the grant's end was not asked for while the provider worked (the grant's
 * end_requested_at, read as the update finds the row), stores the grant's times and makes the
 * request active; otherwise the access expires at once. Then it appends the event for whichever it
 * was. Says which it was.
 *
 * Given the pool (`db`), the statement is its own transaction (issue 19: no BEGIN and COMMIT round
 * trips, as the revocation's write does; its events are chained at its commit, store/audit-log.ts);
 * given a transaction, it is part of that one.
 */
export async function completeGrant(on: Database | SqlTransaction, done: GrantDone): Promise<{ expiresAt: Date; stillWanted: boolean }> {
  const values = [done.grantedAt, done.expiresAt, done.grantId, done.requestId, done.effectiveEndLagSeconds, ...auditEventArguments([done.event.wanted, done.event.endedMeanwhile])];
  const [row] = on instanceof SqlTransaction ? await on.rows<CompletedGrant>(COMPLETE_GRANT.text, values) : (await inTransactionSpan(() => runPrepared<CompletedGrant>(on.pool, COMPLETE_GRANT, values))).rows;
  if (!row) throw new Error(`grant ${done.grantId} is missing`);
  if (row.appended !== 1) throw new Error(`grant ${done.grantId} was recorded without its audit event`);
  return { expiresAt: row.expiresAt, stillWanted: row.stillWanted };
}

interface CompletedGrant {
  expiresAt: Date;
  stillWanted: boolean;
  appended: number;
}

// $6–$13: the two events (auditEventArguments), each array [wanted, ended meanwhile]; `appended`
// takes the one slice ([1:1] or [2:2]) that says what happened.
const COMPLETE_GRANT = preparedStatement(
  'complete_grant',
  `
  WITH request AS (
    SELECT state = 'approved' AS approved FROM access_requests WHERE id = $4::uuid FOR UPDATE
  ), done AS (
    UPDATE grants
       SET granted_at = $1::timestamptz,
           expires_at = CASE WHEN end_requested_at IS NULL AND COALESCE((SELECT approved FROM request), false) THEN $2::timestamptz ELSE $1::timestamptz END,
           effective_end_lag_seconds = $5::int,
           last_error = NULL, last_error_at = NULL, updated_at = now()
     WHERE id = $3::uuid
    RETURNING expires_at, end_requested_at IS NULL AND COALESCE((SELECT approved FROM request), false) AS still_wanted
  ), activated AS (
    UPDATE access_requests SET state = 'active', updated_at = now()
     WHERE id = $4::uuid AND state = 'approved' AND (SELECT still_wanted FROM done)
  ), event AS (
    SELECT CASE WHEN still_wanted THEN 1 ELSE 2 END AS i FROM done
  ), appended AS (
    SELECT latch_append_audit_events(($6::timestamptz[])[i:i], ($7::text[])[i:i], ($8::text[])[i:i], ($9::uuid[])[i:i], ($10::jsonb[])[i:i],
                                     ($11::text[])[i:i], ($12::text[])[i:i], ($13::text[])[i:i])
      FROM event
  )
  SELECT expires_at AS "expiresAt", still_wanted AS "stillWanted", (SELECT count(*) FROM appended)::int AS appended FROM done`,
);

/** Records why the latest attempt on a grant failed (Latch's notice, which Slack may show), and when. */
export async function recordGrantError(tx: SqlTransaction, grantId: string, notice: string, at: Date): Promise<void> {
  await tx.rows('UPDATE grants SET last_error = $2, last_error_at = $3::timestamptz, updated_at = now() WHERE id = $1::uuid', [grantId, notice, at]);
}

/**
 * Closes the grant of a request that failed, with why. `unsure`: the target's state is unknown
 * (the provider's last word was transient), so the grant is left due for revocation at `at`
 * instead of closed as revoked.
 */
export async function closeFailedGrant(tx: SqlTransaction, grantId: string, notice: string, at: Date, unsure: boolean): Promise<void> {
  await tx.rows(
    `UPDATE grants SET last_error = $2, last_error_at = $3::timestamptz, revoke_reason = 'grant failed',
                       expires_at = CASE WHEN $4::boolean THEN $3::timestamptz ELSE expires_at END,
                       revoked_at = CASE WHEN $4::boolean THEN revoked_at ELSE $3::timestamptz END, updated_at = now()
      WHERE id = $1::uuid`,
    [grantId, notice, at, unsure],
  );
}

/** Counts a failed revocation attempt, with why (Latch's notice); `alerted` when the security channel is told now. */
export async function recordRevocationError(tx: SqlTransaction, grantId: string, attempts: number, notice: string, at: Date, alerted: boolean): Promise<void> {
  await tx.rows(
    `UPDATE grants SET revoke_attempts = $2::int, last_error = $3, last_error_at = $4::timestamptz,
                       overdue_alerted_at = CASE WHEN $5::boolean THEN $4::timestamptz ELSE overdue_alerted_at END, updated_at = now()
      WHERE id = $1::uuid`,
    [grantId, attempts, notice, at, alerted],
  );
}
