import type { RequestScope } from '../domain/request-scope.ts';
import { rowsWithRecordedAuditEvents } from './audit-log.ts';
import type { AccessRequest } from './generated/client.ts';
import { preparedStatement } from './prepared-statement.ts';
import type { SqlTransaction } from './sql-transaction.ts';
import { uuidV7 } from './uuid-v7.ts';

/** What a new request stores; the rest of its row takes the table's defaults. */
export type NewRequest = Pick<
  AccessRequest,
  | 'requesterSlackId'
  | 'slackTeamId'
  | 'resourceId'
  | 'role'
  | 'principal'
  | 'durationSeconds'
  | 'startsAt'
  | 'reason'
  | 'ticket'
  | 'requiredApprovals'
  | 'requiredGroups'
  | 'policyVersion'
  | 'approvalChannelId'
  | 'pendingExpiresAt'
  | 'decidedAt'
  | 'decidedByRule'
  | 'breakGlass'
  | 'reviewDueAt'
  | 'submissionKey'
  | 'createdAt'
  | 'bundleId'
  | 'bundlePosition'
> & {
  /** What was unusual about it (domain/risk-flags.ts); none when absent. */
  riskFlags?: ReadonlyArray<{ signal: string; explanation: string }>;
  /** What of the role was asked for (domain/scope-rules.ts); the whole role when absent or null. */
  scope?: RequestScope | null;
  /** Why an on-call rule could not judge it (shown on the approval card); none when absent. */
  onCallNote?: string | null;
  state: 'pending' | 'approved';
  /** The id, when the caller needed it before the insert (a login named after it); a new uuid v7 otherwise. */
  id?: string;
};

/**
 * Inserts a request and gives back its id, in one statement. With `pendingLimit`, only while its
 * requester has fewer pending requests than that: null when they have as many already. The count
 * and the insert are one statement, run after the caller took the requester's lock in a statement
 * of its own (so the count sees every request committed before the lock was granted).
 *
 * `withAuditEvents`: the insert is the transaction's last statement, and writes the audit events
 * it recorded (its own `request.created` among them) in the same round trip, if it inserted
 * (rowsWithRecordedAuditEvents); refused by the limit, it writes none.
 *
 * `thenCommit`: the insert is the transaction's one change, and COMMIT goes behind it in the same
 * write (SqlTransaction.rowsThenCommit); refused by the limit, the transaction commits nothing.
 */
export async function insertRequest(tx: SqlTransaction, request: NewRequest, pendingLimit: number | null, options: { withAuditEvents: boolean; thenCommit?: boolean }): Promise<string | null> {
  const values = [
    request.id ?? uuidV7(request.createdAt.getTime()),
    request.requesterSlackId,
    request.slackTeamId,
    request.resourceId,
    request.role,
    request.principal,
    request.durationSeconds,
    request.startsAt,
    request.reason,
    request.ticket,
    request.state,
    request.breakGlass,
    request.requiredApprovals,
    request.requiredGroups,
    request.policyVersion,
    request.approvalChannelId,
    request.pendingExpiresAt,
    request.decidedAt,
    request.decidedByRule,
    request.reviewDueAt,
    request.submissionKey,
    request.createdAt,
    pendingLimit,
    JSON.stringify(request.riskFlags ?? []),
    request.onCallNote ?? null,
    request.bundleId,
    request.bundlePosition,
    request.scope ? JSON.stringify(request.scope) : null,
  ];
  const thenCommit = options.thenCommit === true;
  const inserted = options.withAuditEvents
    ? await rowsWithRecordedAuditEvents<{ id: string }>(tx, INSERT_REQUEST, values, { thenCommit })
    : thenCommit
      ? await tx.rowsThenCommit<{ id: string }>(INSERT_REQUEST, values)
      : await tx.rows<{ id: string }>(INSERT_REQUEST, values);
  return inserted[0]?.id ?? null;
}

const INSERT_REQUEST = preparedStatement(
  'request_insert',
  `
  INSERT INTO access_requests (id, requester_slack_id, slack_team_id, resource_id, role, principal, duration_seconds, starts_at, reason, ticket,
                               state, break_glass, required_approvals, required_groups, policy_version, approval_channel_id, pending_expires_at,
                               decided_at, decided_by_rule, review_due_at, submission_key, created_at, updated_at, risk_flags, on_call_note,
                               bundle_id, bundle_position, scope)
  SELECT $1::uuid, $2, $3, $4, $5, $6, $7::int, $8::timestamptz, $9, $10, $11::request_state, $12::boolean, $13::int, $14::text[], $15, $16,
         $17::timestamptz, $18::timestamptz, $19, $20::timestamptz, $21, $22::timestamptz, now(), $24::jsonb, $25,
         $26::uuid, $27::int, $28::jsonb
   WHERE $23::int IS NULL
      OR (SELECT count(*) FROM access_requests WHERE requester_slack_id = $2 AND state = 'pending') < $23::int
  RETURNING id::text AS id`,
);

/**
 * The insert broke a unique key (the same form's submission key, submitted twice at once). pg
 * fails with PostgreSQL's own code (23505); through Prisma, raw statements fail as P2010 with that
 * code beneath, model queries as P2002.
 */
export function isUniqueViolation(error: unknown): boolean {
  const failure = error as { code?: unknown; meta?: { driverAdapterError?: { cause?: { originalCode?: unknown; kind?: unknown } } } } | null;
  if (typeof failure !== 'object' || failure === null) return false;
  if (failure.code === '23505' || failure.code === 'P2002') return true;
  const cause = failure.meta?.driverAdapterError?.cause;
  return failure.code === 'P2010' && (cause?.originalCode === '23505' || cause?.kind === 'UniqueConstraintViolation');
}
