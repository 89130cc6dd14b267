import pg from 'pg';
import type { AccessRequest, Grant } from './generated/client.ts';

/**
 * The columns of the tables the store reads in plain SQL, by the field names of Prisma's models,
 * so a row read with them has the model's type and shape. Typed as complete: a field added to
 * schema.prisma fails the typecheck here until its column is named.
 */
const ACCESS_REQUEST_COLUMNS: Record<keyof AccessRequest, string> = {
  id: 'id',
  requesterSlackId: 'requester_slack_id',
  slackTeamId: 'slack_team_id',
  resourceId: 'resource_id',
  role: 'role',
  principal: 'principal',
  durationSeconds: 'duration_seconds',
  startsAt: 'starts_at',
  extendsRequestId: 'extends_request_id',
  submissionKey: 'submission_key',
  reason: 'reason',
  ticket: 'ticket',
  // The enum as text: pg and Prisma's raw queries read it alike.
  state: 'state::text',
  breakGlass: 'break_glass',
  revision: 'revision',
  requiredApprovals: 'required_approvals',
  requiredGroups: 'required_groups',
  policyVersion: 'policy_version',
  decidedByRule: 'decided_by_rule',
  approvalChannelId: 'approval_channel_id',
  approvalMessageTs: 'approval_message_ts',
  requesterChannelId: 'requester_channel_id',
  requesterMessageTs: 'requester_message_ts',
  pendingExpiresAt: 'pending_expires_at',
  decidedAt: 'decided_at',
  endedAt: 'ended_at',
  outcomeReason: 'outcome_reason',
  reviewDueAt: 'review_due_at',
  riskFlags: 'risk_flags',
  onCallNote: 'on_call_note',
  scope: 'scope',
  reviewedBySlackId: 'reviewed_by_slack_id',
  reviewedAt: 'reviewed_at',
  securityMessageTs: 'security_message_ts',
  bundleId: 'bundle_id',
  bundlePosition: 'bundle_position',
  messagesSeq: 'messages_seq',
  lastRemindedAt: 'last_reminded_at',
  escalatedAt: 'escalated_at',
  createdAt: 'created_at',
  updatedAt: 'updated_at',
};

const GRANT_COLUMNS: Record<keyof Grant, string> = {
  id: 'id',
  requestId: 'request_id',
  provider: 'provider',
  principal: 'principal',
  providerSettings: 'provider_settings',
  resourceId: 'resource_id',
  role: 'role',
  grantedAt: 'granted_at',
  expiresAt: 'expires_at',
  revokedAt: 'revoked_at',
  revokeReason: 'revoke_reason',
  revokedBySlackId: 'revoked_by_slack_id',
  endRequestedAt: 'end_requested_at',
  grantAttempts: 'grant_attempts',
  revokeAttempts: 'revoke_attempts',
  lastError: 'last_error',
  lastErrorAt: 'last_error_at',
  overdueAlertedAt: 'overdue_alerted_at',
  credentialsIssuedAt: 'credentials_issued_at',
  verifiedRevokedAt: 'verified_revoked_at',
  effectiveEndLagSeconds: 'effective_end_lag_seconds',
  createdAt: 'created_at',
  updatedAt: 'updated_at',
};

/**
 * How plain-SQL reads parse column types so their rows match the models: int8 (a BigInt field such
 * as messagesSeq) as a bigint, as Prisma reads it, instead of pg's default text.
 */
export const MODEL_TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === pg.types.builtins.INT8 && format !== 'binary' ? (text: string) => BigInt(text) : pg.types.getTypeParser(oid, format as 'text')) as pg.CustomTypesConfig['getTypeParser'],
};

/** `alias.column AS "field", …`: every column of access_requests, named as AccessRequest's fields. */
export function accessRequestColumns(alias: string, prefix = ''): string {
  return selectList(ACCESS_REQUEST_COLUMNS, alias, prefix);
}

/** Every column of grants, named as Grant's fields (after `prefix`, for a grant joined to its request). */
export function grantColumns(alias: string, prefix = ''): string {
  return selectList(GRANT_COLUMNS, alias, prefix);
}

/** The fields of a row whose names start with `prefix`, without it: a joined table's part of a row. */
export function unprefixed<T>(row: Record<string, unknown>, prefix: string): T {
  const fields: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(row)) if (name.startsWith(prefix)) fields[name.slice(prefix.length)] = value;
  return fields as T;
}

function selectList(columns: Record<string, string>, alias: string, prefix: string): string {
  return Object.entries(columns)
    .map(([field, column]) => `${alias}.${column} AS "${prefix}${field}"`)
    .join(', ');
}
