import { RISK_LOOKBACK_DAYS, type PastRequest, type RiskHistory } from '../domain/risk-flags.ts';
import type { SqlTransaction } from './sql-transaction.ts';

const DAY_MS = 24 * 3600 * 1000;

const ASKED_BEFORE = `
  SELECT EXISTS (SELECT 1 FROM access_requests WHERE requester_slack_id = $1 AND resource_id = $2) AS asked`;

const RECENT_REQUESTS = `
  SELECT resource_id AS "resourceId", role, created_at AS "createdAt", state::text = 'denied' AS denied, break_glass AS "breakGlass"
    FROM access_requests
   WHERE requester_slack_id = $1 AND created_at >= $2::timestamptz
   ORDER BY created_at DESC
   LIMIT 500`;

// Requests for more time are left out: their duration is added to access already held.
const ROLE_DURATIONS = `
  SELECT duration_seconds AS "durationSeconds"
    FROM access_requests
   WHERE resource_id = $1 AND role = $2 AND extends_request_id IS NULL AND created_at >= $3::timestamptz
   ORDER BY created_at DESC
   LIMIT 1000`;

/**
 * What the risk rules judge a new request against (domain/risk-flags.ts), read in the caller's
 * transaction before the request is inserted, so the request never counts itself. Bounded: at
 * most the last RISK_LOOKBACK_DAYS, and a cap on rows that no real person reaches.
 */
export async function loadRiskHistory(tx: SqlTransaction, request: { requesterId: string; resourceId: string; role: string }, now: Date): Promise<RiskHistory> {
  const since = new Date(now.getTime() - RISK_LOOKBACK_DAYS * DAY_MS);
  const [asked] = await tx.rows<{ asked: boolean }>(ASKED_BEFORE, [request.requesterId, request.resourceId]);
  const recent = await tx.rows<PastRequest>(RECENT_REQUESTS, [request.requesterId, since]);
  const durations = await tx.rows<{ durationSeconds: number }>(ROLE_DURATIONS, [request.resourceId, request.role, since]);
  return {
    askedForResourceBefore: asked?.asked === true,
    recentRequests: recent.map((row) => ({ ...row, createdAt: new Date(row.createdAt) })),
    roleDurationsSeconds: durations.map((row) => Number(row.durationSeconds)),
  };
}
