import type { Approval, RequestState } from './generated/client.ts';
import type { SqlTransaction } from './sql-transaction.ts';
import { uuidV7 } from './uuid-v7.ts';

export type CastVote = Pick<Approval, 'approverSlackId' | 'decision' | 'approverGroups'>;

/**
 * The votes on the request's current revision, oldest first. Read under the request's row lock
 * (lockRequest), so it sees every vote committed under the lock before, on the revision the lock
 * read.
 */
export function readVotes(tx: SqlTransaction, requestId: string): Promise<CastVote[]> {
  return tx.rows<CastVote>(
    `SELECT a.approver_slack_id AS "approverSlackId", a.decision::text AS "decision", a.approver_groups AS "approverGroups"
       FROM approvals AS a JOIN access_requests AS r ON r.id = a.request_id AND a.request_revision = r.revision
      WHERE a.request_id = $1::uuid ORDER BY a.created_at`,
    [requestId],
  );
}

export interface VoteToRecord {
  requestId: string;
  revision: number;
  approverSlackId: string;
  decision: 'approve' | 'deny';
  comment: string | null;
  approverGroups: string[];
  at: Date;
  /** The approvals the request needs now, when the policy in force asks for more than it stored. */
  raised: { requiredApprovals: number; requiredGroups: string[] } | null;
  /** The request's new state, when this vote decides it. */
  outcome: { state: Extract<RequestState, 'approved' | 'denied'>; outcomeReason: string | null } | null;
}

/**
 * Stores a vote and what it changes on its request (the approvals needed, the decision) in one
 * statement: the caller has computed the tally, under the request's row lock, from the votes before
 * this one. The unique key on (request, revision, approver) still refuses a second vote.
 */
export async function recordVote(tx: SqlTransaction, vote: VoteToRecord): Promise<void> {
  const { raised, outcome } = vote;
  const state = outcome?.state ?? null;
  await tx.rows(RECORD_VOTE, [
    uuidV7(),
    vote.requestId,
    vote.revision,
    vote.approverSlackId,
    vote.decision,
    vote.comment,
    vote.approverGroups,
    vote.at,
    raised?.requiredApprovals ?? null,
    raised?.requiredGroups ?? null,
    state,
    state === 'denied' ? vote.at : null,
    outcome?.outcomeReason ?? null,
    raised !== null,
  ]);
}

// $11: the new state (null while the request stays pending); $12: its ended_at; $13: its outcome_reason.
const RECORD_VOTE = `
  WITH vote AS (
    INSERT INTO approvals (id, request_id, request_revision, approver_slack_id, decision, comment, approver_groups, created_at)
    VALUES ($1::uuid, $2::uuid, $3::int, $4, $5::decision, $6, $7::text[], $8::timestamptz)
  )
  UPDATE access_requests
     SET required_approvals = COALESCE($9::int, required_approvals),
         required_groups = COALESCE($10::text[], required_groups),
         state = COALESCE($11::request_state, state),
         decided_at = CASE WHEN $11::request_state IS NULL THEN decided_at ELSE $8::timestamptz END,
         ended_at = CASE WHEN $11::request_state IS NULL THEN ended_at ELSE $12::timestamptz END,
         outcome_reason = CASE WHEN $11::request_state IS NULL THEN outcome_reason ELSE $13::text END,
         updated_at = now()
   WHERE id = $2::uuid AND ($14::boolean OR $11::request_state IS NOT NULL)`;
