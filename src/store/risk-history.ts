import { RISK_LOOKBACK_DAYS, USUAL_DURATION_PERCENTILE, type PastRequest, type RiskHistory } from '../domain/risk-flags.ts';
import { hexEncoded, type OpeningStatement } from './opening-statement.ts';
import type { SqlTransaction } from './sql-transaction.ts';

const DAY_MS = 24 * 3600 * 1000;

// One round trip for the three things the rules need. Requests for more time are left out of the
// role's durations: their duration is added to access already held. The caps are far above what
// a person makes in the lookback; they bound the read whatever the table holds. The role's
// durations come back as their count and percentile (percentile_disc: nearest rank, a duration
// actually asked for), not as the up to 1,000 values themselves: parsing that array was the
// largest allocation of a slash command in `latch web`, garbage that a busy process promoted to
// its old generation (BENCHMARKS.md, "latch web's memory under load"). $4 (the lookback's start in
// epoch milliseconds) and $5 (the percentile, out of 100) are integers, so the read can also open a
// transaction (readingRiskHistory), where only integers and hex-encoded text are written in.
const RISK_HISTORY = `
  SELECT EXISTS (SELECT 1 FROM access_requests WHERE requester_slack_id = $1 AND resource_id = $2) AS "askedBefore",
         COALESCE((SELECT json_agg(json_build_object('resourceId', resource_id, 'role', role, 'createdAt', created_at,
                                                    'denied', state::text = 'denied', 'breakGlass', break_glass))
                     FROM (SELECT * FROM access_requests WHERE requester_slack_id = $1 AND created_at >= 'epoch'::timestamptz + $4::bigint * interval '1 millisecond'
                            ORDER BY created_at DESC LIMIT 500) AS mine), '[]'::json) AS "recentRequests",
         role_durations.count AS "roleRequests",
         role_durations.usual AS "usualDuration"
    FROM (SELECT count(*)::int AS count, percentile_disc(($5::int / 100.0)::float8) WITHIN GROUP (ORDER BY duration_seconds) AS usual
            FROM (SELECT duration_seconds FROM access_requests
                   WHERE resource_id = $2 AND role = $3 AND extends_request_id IS NULL AND created_at >= 'epoch'::timestamptz + $4::bigint * interval '1 millisecond'
                   ORDER BY created_at DESC LIMIT 1000) AS role_requests) AS role_durations`;

export interface RiskHistoryRow {
  askedBefore: boolean;
  recentRequests: Array<Omit<PastRequest, 'createdAt'> & { createdAt: string }>;
  roleRequests: number;
  usualDuration: number | null;
}

/**
 * What the risk rules judge a new request against (domain/risk-flags.ts), read in the caller's
 * transaction before the request is inserted, so the request never counts itself. Bounded: at
 * most the last RISK_LOOKBACK_DAYS.
 */
export async function loadRiskHistory(tx: SqlTransaction, request: RiskHistoryOf, now: Date): Promise<RiskHistory> {
  const [row] = await tx.rows<RiskHistoryRow>(RISK_HISTORY, [request.requesterId, request.resourceId, request.role, lookbackStartMs(now), USUAL_DURATION_PERCENTILE]);
  return riskHistoryFrom(row);
}

/**
 * The same read as the second statement of a transaction's opening (opening-statement.ts,
 * followedBy): sent with BEGIN and the requester's lock, it runs under the lock in their round
 * trip (issue 19). Its text values go as hex (hexEncoded), never as SQL text.
 */
export function readingRiskHistory(request: RiskHistoryOf, now: Date): OpeningStatement {
  return { text: RISK_HISTORY, values: [hexEncoded(request.requesterId), hexEncoded(request.resourceId), hexEncoded(request.role), lookbackStartMs(now), USUAL_DURATION_PERCENTILE] };
}

/** The history from readingRiskHistory's row. */
export function riskHistoryFrom(row: RiskHistoryRow | undefined): RiskHistory {
  return {
    askedForResourceBefore: row?.askedBefore === true,
    recentRequests: (row?.recentRequests ?? []).map((past) => ({ ...past, createdAt: new Date(past.createdAt) })),
    roleDurations: { count: row?.roleRequests ?? 0, usualSeconds: row?.usualDuration ?? null },
  };
}

export interface RiskHistoryOf {
  requesterId: string;
  resourceId: string;
  role: string;
}

function lookbackStartMs(now: Date): number {
  return now.getTime() - RISK_LOOKBACK_DAYS * DAY_MS;
}
