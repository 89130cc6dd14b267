import type { AccessRequest, Approval, Grant } from './generated/client.ts';
import type { Database } from './database.ts';
import { preparedStatement, runPrepared } from './prepared-statement.ts';
import { accessRequestColumns, grantColumns, MODEL_TYPES, unprefixed } from './table-columns.ts';

/** A decision on the request's current revision, as its messages show it. */
export type ShownDecision = Pick<Approval, 'approverSlackId' | 'decision' | 'comment' | 'createdAt' | 'approverGroups'>;

export interface RequestForMessages {
  request: AccessRequest;
  grant: Grant | null;
  /** Oldest first. */
  decisions: ShownDecision[];
  /** The newest `request.changed` audit event's actor and data (an approver narrowed it), if any. */
  changed: { by: string; data: unknown } | null;
  /** The request extends another, or another extends it: its access chain is worth reading. */
  chained: boolean;
  /**
   * The seq of the request's newest audit event (0 before any), read in the same snapshot as the
   * rest: the version of the request what is read shows (services/messages-shown.ts).
   */
  eventSeq: bigint;
}

const GRANT_PREFIX = 'grant.';

const REQUEST_FOR_MESSAGES = preparedStatement(
  'request_for_messages',
  `
  SELECT ${accessRequestColumns('r')}, ${grantColumns('g', GRANT_PREFIX)},
         COALESCE((SELECT json_agg(json_build_object('approverSlackId', a.approver_slack_id, 'decision', a.decision, 'comment', a.comment,
                                                     'createdAt', a.created_at, 'approverGroups', a.approver_groups) ORDER BY a.created_at)
                     FROM approvals AS a WHERE a.request_id = r.id AND a.request_revision = r.revision), '[]') AS "decisions",
         (SELECT json_build_object('by', e.actor, 'data', e.data) FROM audit_events AS e
           WHERE e.request_id = r.id AND e.action = 'request.changed' ORDER BY e.seq DESC LIMIT 1) AS "changed",
         (r.extends_request_id IS NOT NULL OR EXISTS (SELECT 1 FROM access_requests AS x WHERE x.extends_request_id = r.id)) AS "chained",
         COALESCE((SELECT max(e.seq) FROM audit_events AS e WHERE e.request_id = r.id), 0) AS "eventSeq"
    FROM access_requests AS r LEFT JOIN grants AS g ON g.request_id = r.id
   WHERE r.id = $1`,
);

/**
 * Everything a message about one request shows, in one statement (one round trip, plain SQL):
 * the request, its grant, the decisions on its current revision and the newest audit event it
 * shows. Null when there is none.
 */
export async function readRequestForMessages(db: Database, requestId: string): Promise<RequestForMessages | null> {
  const { rows } = await runPrepared<Record<string, unknown>>(db.pool, REQUEST_FOR_MESSAGES, [requestId], MODEL_TYPES);
  const row = rows[0];
  if (!row) return null;
  const { decisions, changed, chained, eventSeq, ...fields } = row as { decisions: Array<ShownDecision & { createdAt: string }>; changed: { by: string; data: unknown } | null; chained: boolean; eventSeq: bigint };
  const grant = unprefixed<Grant>(fields, GRANT_PREFIX);
  const request = Object.fromEntries(Object.entries(fields).filter(([name]) => !name.startsWith(GRANT_PREFIX))) as unknown as AccessRequest;
  return {
    request,
    grant: grant.id === null ? null : grant,
    // JSON carries the time as text.
    decisions: decisions.map((decision) => ({ ...decision, createdAt: new Date(decision.createdAt) })),
    changed: changed ?? null,
    chained,
    eventSeq,
  };
}

/** A vote on the request's current revision, as a decision counts it. */
export type CastVote = Pick<Approval, 'approverSlackId' | 'decision' | 'approverGroups'>;

export interface RequestForDecision {
  request: AccessRequest;
  /** The votes on its current revision, oldest first. */
  votes: CastVote[];
  /** Who has approved its current revision so far. */
  approvedBy: string[];
  /**
   * The version of the request's row that was read (its xmin): a decision computed from this read
   * is recorded only while the row is still this version (store/decision-write.ts). Every vote
   * writes the row, so a vote cast since, or any other change to the request, makes it stale.
   */
  rowVersion: string;
}

const REQUEST_FOR_DECISION = preparedStatement(
  'request_for_decision',
  `
  SELECT ${accessRequestColumns('r')}, r.xmin::text AS "rowVersion",
         COALESCE((SELECT json_agg(json_build_object('approverSlackId', a.approver_slack_id, 'decision', a.decision, 'approverGroups', a.approver_groups)
                                   ORDER BY a.created_at, a.id)
                     FROM approvals AS a WHERE a.request_id = r.id AND a.request_revision = r.revision), '[]') AS "votes"
    FROM access_requests AS r
   WHERE r.id = $1`,
);

/**
 * A request as a decision is checked and counted against it, with the votes on its current
 * revision and the row's version, in one statement (one snapshot). Null when there is none.
 */
export async function readRequestForDecision(db: Database, requestId: string): Promise<RequestForDecision | null> {
  const { rows } = await runPrepared<AccessRequest & { votes: CastVote[]; rowVersion: string }>(db.pool, REQUEST_FOR_DECISION, [requestId], MODEL_TYPES);
  const row = rows[0];
  if (!row) return null;
  const { votes, rowVersion, ...request } = row;
  const approvedBy = [...new Set(votes.filter((vote) => vote.decision === 'approve').map((vote) => vote.approverSlackId))];
  return { request, votes, approvedBy, rowVersion };
}

const REQUEST = preparedStatement('request', `SELECT ${accessRequestColumns('r')} FROM access_requests AS r WHERE r.id = $1`);

/** One request, as its row is (plain SQL, one statement). Null when there is none. */
export async function readRequest(db: Database, requestId: string): Promise<AccessRequest | null> {
  const { rows } = await runPrepared<AccessRequest>(db.pool, REQUEST, [requestId], MODEL_TYPES);
  return rows[0] ?? null;
}

const REQUEST_BY_SUBMISSION = `SELECT ${accessRequestColumns('r')} FROM access_requests AS r WHERE r.submission_key = $1`;

/** The request a form submission made (its submission key), as its row is. Null when there is none. */
export async function readRequestBySubmission(db: Database, submissionKey: string): Promise<AccessRequest | null> {
  const { rows } = await db.pool.query<AccessRequest>({ text: REQUEST_BY_SUBMISSION, values: [submissionKey], types: MODEL_TYPES });
  return rows[0] ?? null;
}

/**
 * The scope a request asked for, for what a provider is told about its grant (a revocation, a
 * session watch): null for none, or for a request that no longer exists.
 */
export async function readRequestScope(db: Database, requestId: string): Promise<unknown> {
  const { rows } = await db.pool.query<{ scope: unknown }>('SELECT scope FROM access_requests WHERE id = $1::uuid', [requestId]);
  return rows[0]?.scope ?? null;
}

/** Each action's first event of the request: written with it, later ones only appended. */
const FIRST_CREATED_AND_APPROVED = `
  SELECT DISTINCT ON (action) action, data FROM audit_events
   WHERE request_id = $1::uuid AND action IN ('request.created', 'request.approved')
   ORDER BY action, seq`;

/**
 * The data of the request's first `request.created` and `request.approved` audit events (null for
 * one it has not got): what was asked, as they recorded it, whatever the row says since.
 */
export async function readCreationEvents(db: Database, requestId: string): Promise<{ created: unknown; approved: unknown }> {
  const { rows } = await db.pool.query<{ action: string; data: unknown }>(FIRST_CREATED_AND_APPROVED, [requestId]);
  const dataOf = (action: string) => rows.find((row) => row.action === action)?.data ?? null;
  return { created: dataOf('request.created'), approved: dataOf('request.approved') };
}
