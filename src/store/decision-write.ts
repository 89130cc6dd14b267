import { inTransactionSpan } from '../observability/transaction-span.ts';
import { auditEventArguments, auditEventParameters, type AuditEntry } from './audit-log.ts';
import type { Database } from './database.ts';
import { preparedStatement, runPrepared } from './prepared-statement.ts';
import type { RequestState } from './generated/client.ts';
import { uuidV7 } from './uuid-v7.ts';

export interface DecisionToRecord {
  requestId: string;
  /**
   * The version of the request's row the decision was computed from (readRequestForDecision):
   * nothing is written unless the row is still exactly that version.
   */
  rowVersion: string;
  /** The revision the vote is on: the one read, or the next when `narrowed` starts it. */
  revision: number;
  /** "Approve with changes": the request becomes this, as a new revision (the one the vote is on). */
  narrowed: { role: string; durationSeconds: number } | null;
  approverSlackId: string;
  decision: 'approve' | 'deny';
  comment: string | null;
  approverGroups: string[];
  at: Date;
  /** The approvals the request needs now, when the policy in force asks for more than it stored. */
  raised: { requiredApprovals: number; requiredGroups: string[] } | null;
  /** The request's new state, when this vote decides it. */
  outcome: { state: Extract<RequestState, 'approved' | 'denied'>; outcomeReason: string | null } | null;
  /** The audit events of all this, in order (store/audit-log.ts). */
  events: readonly AuditEntry[];
}

/**
 * Records a decision in one statement, its own transaction: the vote, what it changes on the
 * request (a narrowing, the approvals needed, the decision) and its audit events, or nothing at
 * all. Written only if the request's row is still the version the decision was computed from;
 * false when it is not (a vote was cast, or the request changed, since it was read), and the
 * caller reads the request again and decides again.
 *
 * Why optimistic (issue 19): `latch web` spends its CPU per click mostly waking up for round trips.
 * Locking the row first (BEGIN, SELECT … FOR UPDATE, the votes, the vote, the audit append, COMMIT)
 * cost six round trips, two of them with the audit chain's lock held; this is one, and its events
 * are chained at its commit (store/audit-log.ts).
 *
 * Why it is safe: the UPDATE locks the row, and a row a concurrent transaction changed meanwhile is
 * re-read before its WHERE is checked again (READ COMMITTED's re-check), so `xmin` is that of the
 * row as it is now, not as this statement's snapshot saw it. Every decision writes the row, so of
 * two votes computed from the same version exactly one is recorded: two approvers at once on a
 * two-approval request, the second decides again with the first's vote counted; a double click,
 * the second finds its vote there. The vote and the audit events are inserted from the UPDATE's
 * result, so without it there are none. The unique key on (request, revision, approver) stays the
 * last word on a second vote. Row lock, then the chain's lock, as every writer takes them.
 */
export async function recordDecision(db: Database, decision: DecisionToRecord): Promise<boolean> {
  const { raised, outcome, narrowed } = decision;
  const state = outcome?.state ?? null;
  const { rows } = await inTransactionSpan(() =>
    runPrepared<{ recorded: number; appended: number }>(db.pool, RECORD_DECISION, [
      uuidV7(),
      decision.requestId,
      decision.rowVersion,
      decision.revision,
      narrowed?.role ?? null,
      narrowed?.durationSeconds ?? null,
      decision.approverSlackId,
      decision.decision,
      decision.comment,
      decision.approverGroups,
      decision.at,
      raised?.requiredApprovals ?? null,
      raised?.requiredGroups ?? null,
      state,
      state === 'denied' ? decision.at : null,
      outcome?.outcomeReason ?? null,
      ...auditEventArguments(decision.events),
    ]),
  );
  const row = rows[0];
  if (!row || row.recorded === 0) return false;
  // Cannot happen while the vote has its events; if it did, the chain would miss a decision.
  if (row.appended !== 1) throw new Error('a decision was recorded without its audit events');
  return true;
}

// $14: the new state (null while the request stays pending); $15: its ended_at; $16: its
// outcome_reason. `vote` and `appended` read `decided`, so they run after the row is locked and
// only if it was written.
const RECORD_DECISION = preparedStatement(
  'record_decision',
  `
  WITH decided AS (
    UPDATE access_requests
       SET revision = $4::int,
           role = COALESCE($5::text, role),
           duration_seconds = COALESCE($6::int, duration_seconds),
           required_approvals = COALESCE($12::int, required_approvals),
           required_groups = COALESCE($13::text[], required_groups),
           state = COALESCE($14::request_state, state),
           decided_at = CASE WHEN $14::request_state IS NULL THEN decided_at ELSE $11::timestamptz END,
           ended_at = CASE WHEN $14::request_state IS NULL THEN ended_at ELSE $15::timestamptz END,
           outcome_reason = CASE WHEN $14::request_state IS NULL THEN outcome_reason ELSE $16::text END,
           updated_at = now()
     WHERE id = $2::uuid AND xmin = $3::xid
    RETURNING id
  ), vote AS (
    INSERT INTO approvals (id, request_id, request_revision, approver_slack_id, decision, comment, approver_groups, created_at)
    SELECT $1::uuid, decided.id, $4::int, $7, $8::decision, $9, $10::text[], $11::timestamptz FROM decided
  ), appended AS (
    SELECT latch_append_audit_events(${auditEventParameters(17)}) FROM decided
  )
  SELECT (SELECT count(*) FROM decided)::int AS recorded, (SELECT count(*) FROM appended)::int AS appended`,
);
