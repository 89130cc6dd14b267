import type { RequestState } from './generated/client.ts';
import type { SqlTransaction } from './sql-transaction.ts';

export interface RequestEnding {
  state: Extract<RequestState, 'denied' | 'expired' | 'failed'>;
  endedAt: Date;
  /** What the requester and approvers read about why it ended. */
  outcomeReason: string;
  /** The decision's time to store (null clears it); left as it is when absent. */
  decidedAt?: Date | null;
}

/**
 * Ends a request, in the caller's transaction, which holds its row lock and has checked that the
 * request may move to `state` (domain/request-state.ts). One statement that reads nothing back.
 */
export async function endRequest(tx: SqlTransaction, requestId: string, ending: RequestEnding): Promise<void> {
  await tx.rows(
    `UPDATE access_requests
        SET state = $2::request_state, ended_at = $3::timestamptz, outcome_reason = $4,
            decided_at = CASE WHEN $5::boolean THEN $6::timestamptz ELSE decided_at END, updated_at = now()
      WHERE id = $1::uuid`,
    [requestId, ending.state, ending.endedAt, ending.outcomeReason, ending.decidedAt !== undefined, ending.decidedAt ?? null],
  );
}
