import { RISK_LOOKBACK_DAYS, USUAL_DURATION_PERCENTILE, type PastRequest, type RiskHistory } from '../domain/risk-flags.ts';
import { preparedStatement, type PreparedStatement } from './prepared-statement.ts';
import type { SqlTransaction } from './sql-transaction.ts';

const DAY_MS = 24 * 3600 * 1000;

// One round trip for the three things the rules need. Requests for more time are left out of the
// role's durations: their duration is added to access already held. The caps are far above what
// a person makes in the lookback; they bound the read whatever the table holds. The role's
// durations come back as their count and percentile (percentile_disc: nearest rank, a duration
// actually asked for), not as the up to 1,000 values themselves: parsing that array was the
// largest allocation of a slash command in `latch web`, garbage that a busy process promoted to
// its old generation (BENCHMARKS.md, "latch web's memory under load").
const RISK_HISTORY = preparedStatement(
  'risk_history',
  `
  SELECT EXISTS (SELECT 1 FROM access_requests WHERE requester_slack_id = $1 AND resource_id = $2) AS "askedBefore",
         COALESCE((SELECT json_agg(json_build_object('resourceId', resource_id, 'role', role, 'createdAt', created_at,
                                                    'denied', state::text = 'denied', 'breakGlass', break_glass))
                     FROM (SELECT * FROM access_requests WHERE requester_slack_id = $1 AND created_at >= $4::timestamptz
                            ORDER BY created_at DESC LIMIT 500) AS mine), '[]'::json) AS "recentRequests",
         role_durations.count AS "roleRequests",
         role_durations.usual AS "usualDuration"
    FROM (SELECT count(*)::int AS count, percentile_disc($5::float8) WITHIN GROUP (ORDER BY duration_seconds)::int AS usual
            FROM (SELECT duration_seconds FROM access_requests
                   WHERE resource_id = $2 AND role = $3 AND extends_request_id IS NULL AND created_at >= $4::timestamptz
                   ORDER BY created_at DESC LIMIT 1000) AS role_requests) AS role_durations`,
);

interface RiskHistoryRow {
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
  const { statement, values } = readingRiskHistory(request, now);
  return riskHistoryFrom(await tx.rows<RiskHistoryRow>(statement, values));
}

/** Whose history, of what. */
export interface RiskHistoryOf {
  requesterId: string;
  resourceId: string;
  role: string;
}

/**
 * The read of loadRiskHistory as a statement with its parameters, for a transaction that sends it
 * behind its opening lock in the same write (OpeningStatement.followedBy); riskHistoryFrom reads
 * its rows. The requester, resource and role stay bound parameters.
 */
export function readingRiskHistory(request: RiskHistoryOf, now: Date): { statement: PreparedStatement; values: unknown[] } {
  const since = new Date(now.getTime() - RISK_LOOKBACK_DAYS * DAY_MS);
  return { statement: RISK_HISTORY, values: [request.requesterId, request.resourceId, request.role, since, USUAL_DURATION_PERCENTILE / 100] };
}

/** The history in the rows of readingRiskHistory's statement. No row fails: an empty past would judge a request too kindly. */
export function riskHistoryFrom(rows: readonly unknown[]): RiskHistory {
  const row = rows[0] as RiskHistoryRow | undefined;
  if (!row) throw new Error('the risk history read gave back no row');
  return {
    askedForResourceBefore: row.askedBefore === true,
    recentRequests: (row.recentRequests ?? []).map((past) => ({ ...past, createdAt: new Date(past.createdAt) })),
    roleDurations: { count: row.roleRequests ?? 0, usualSeconds: row.usualDuration ?? null },
  };
}
