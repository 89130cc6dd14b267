import type { Approval, RequestState } from './generated/client.ts';
import type { Transaction } from './transaction.ts';
import { uuidV7 } from './uuid-v7.ts';

export type CastVote = Pick<Approval, 'approverSlackId' | 'decision' | 'approverGroups'>;

/** The votes on one revision of a request, oldest first (read under the request's row lock). */
export function readVotes(tx: Transaction, requestId: string, revision: number): Promise<CastVote[]> {
  return tx.$queryRaw<CastVote[]>`
    SELECT approver_slack_id AS "approverSlackId", decision::text AS "decision", approver_groups AS "approverGroups"
      FROM approvals WHERE request_id = ${requestId}::uuid AND request_revision = ${revision} ORDER BY created_at`;
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
export async function recordVote(tx: Transaction, vote: VoteToRecord): Promise<void> {
  const { raised, outcome } = vote;
  const state = outcome?.state ?? null;
  const endedAt = state === 'denied' ? vote.at : null;
  await tx.$executeRaw`
    WITH vote AS (
      INSERT INTO approvals (id, request_id, request_revision, approver_slack_id, decision, comment, approver_groups, created_at)
      VALUES (${uuidV7()}::uuid, ${vote.requestId}::uuid, ${vote.revision}, ${vote.approverSlackId}, ${vote.decision}::decision, ${vote.comment},
              ${vote.approverGroups}::text[], ${vote.at}::timestamptz)
    )
    UPDATE access_requests
       SET required_approvals = COALESCE(${raised?.requiredApprovals ?? null}::int, required_approvals),
           required_groups = COALESCE(${raised?.requiredGroups ?? null}::text[], required_groups),
           state = COALESCE(${state}::request_state, state),
           decided_at = CASE WHEN ${state}::text IS NULL THEN decided_at ELSE ${vote.at}::timestamptz END,
           ended_at = CASE WHEN ${state}::text IS NULL THEN ended_at ELSE ${endedAt}::timestamptz END,
           outcome_reason = CASE WHEN ${state}::text IS NULL THEN outcome_reason ELSE ${outcome?.outcomeReason ?? null}::text END,
           updated_at = now()
     WHERE id = ${vote.requestId}::uuid AND (${raised !== null}::boolean OR ${state}::text IS NOT NULL)`;
}
