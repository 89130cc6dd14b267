import { canonicalJson } from './policy.ts';
import { REQUEST_STATES, type RequestState } from './request-state.ts';

/**
 * The state rows of one request as its audit events say they must be. The chain proves the events
 * were not rewritten; replaying them and comparing with the rows proves the rows were not either
 * (a grant's expiry pushed out, a request switched to approved, an approval slipped in). Pure: the
 * events in sequence order in, what the rows must hold out.
 */
export interface ReplayedEvent {
  seq: bigint;
  at: Date;
  actor: string;
  action: string;
  data: unknown;
}

export interface ReplayedApproval {
  approverSlackId: string;
  revision: number;
  decision: string;
  comment: string | null;
  groups: string[];
  at: Date;
}

export interface ReplayedGrant {
  id: string;
  /** Who the provider granted to, and which provider (revocation goes to them): when recorded. */
  principal?: string;
  provider?: string;
  grantedAt: Date | null;
  expiresAt: Date | null;
  revokedAt: Date | null;
  endRequestedAt: Date | null;
  revokedBySlackId: string | null;
  /** When a login's credentials were handed out (`credentials.issued`), given back by `credentials.issue_failed`. */
  credentialsIssuedAt: Date | null;
  /** The `grant.revoked` event's time when it says the provider verified the access gone. */
  verifiedRevokedAt: Date | null;
  /** What `grant.granted` recorded of how long sessions may outlive the revocation (null when nothing). */
  effectiveEndLagSeconds: number | null;
}

export interface ReplayedRequest {
  /** False when no `request.created` event exists: the row was written without one. */
  created: boolean;
  /** What `request.created` recorded about the request, field by field (older events hold fewer). */
  asked: Record<string, unknown>;
  state: RequestState | null;
  /** Undefined when no event decided it: then it is not compared. */
  decidedAt: Date | null | undefined;
  decidedByRule: string | null;
  reviewedBySlackId: string | null;
  reviewedAt: Date | null;
  approvals: ReplayedApproval[];
  grant: ReplayedGrant | null;
}

/** The request row's columns `request.created` records (the name in the event's data is the same). */
const ASKED_FIELDS = ['resourceId', 'role', 'principal', 'durationSeconds', 'startsAt', 'extendsRequestId', 'requiredApprovals', 'requiredGroups'] as const;

export function replayRequest(events: readonly ReplayedEvent[]): ReplayedRequest {
  const replayed: ReplayedRequest = {
    created: false,
    asked: {},
    state: null,
    decidedAt: undefined,
    decidedByRule: null,
    reviewedBySlackId: null,
    reviewedAt: null,
    approvals: [],
    grant: null,
  };
  for (const event of events) apply(replayed, event, dataOf(event));
  return replayed;
}

function apply(replayed: ReplayedRequest, event: ReplayedEvent, data: Record<string, unknown>): void {
  const grantId = typeof data.grantId === 'string' ? data.grantId : null;
  switch (event.action) {
    case 'request.created':
      replayed.created = true;
      replayed.state = 'pending';
      replayed.asked = { requesterSlackId: event.actor, breakGlass: data.breakGlass === true };
      for (const field of ASKED_FIELDS) if (field in data) replayed.asked[field] = data[field];
      // Every request has a scope column: none recorded (an unscoped request, or one from before
      // scopes) means it must be empty, so a scope written into the row afterwards shows.
      replayed.asked.scope = data.scope ?? null;
      return;
    case 'approval.recorded':
      replayed.approvals.push({
        approverSlackId: event.actor,
        revision: Number(data.revision),
        decision: String(data.decision),
        comment: typeof data.comment === 'string' ? data.comment : null,
        groups: Array.isArray(data.groups) ? data.groups.map(String) : [],
        at: event.at,
      });
      // A reload that asks for more approvals raises the request's own count with this vote.
      if (typeof data.requiredApprovals === 'number') replayed.asked.requiredApprovals = data.requiredApprovals;
      if (Array.isArray(data.requiredGroups)) replayed.asked.requiredGroups = data.requiredGroups.map(String);
      return;
    case 'request.changed':
      // An approver narrowed the request as they approved it: what is granted is this from here on.
      if (typeof data.role === 'string') replayed.asked.role = data.role;
      if (typeof data.durationSeconds === 'number') replayed.asked.durationSeconds = data.durationSeconds;
      if ('scope' in data) replayed.asked.scope = data.scope ?? null;
      return;
    case 'request.reviewed':
      replayed.reviewedBySlackId = event.actor;
      replayed.reviewedAt = event.at;
      return;
    case 'grant.granted':
      replayed.grant = { ...grantFor(replayed, grantId ?? ''), grantedAt: event.at, expiresAt: dateOf(data.expiresAt) };
      if (typeof data.principal === 'string') replayed.grant.principal = data.principal;
      if (typeof data.provider === 'string') replayed.grant.provider = data.provider;
      replayed.grant.effectiveEndLagSeconds = typeof data.effectiveEndLagSeconds === 'number' ? data.effectiveEndLagSeconds : null;
      if (data.endedMeanwhile !== true) replayed.state = 'active';
      return;
    case 'grant.end_requested':
      // The grant's expiry moves to now, unless it was already revoked; a request not yet granted ends.
      if (grantId) {
        const grant = grantFor(replayed, grantId);
        if (!grant.revokedAt) Object.assign(grant, { expiresAt: event.at, endRequestedAt: event.at, revokedBySlackId: event.actor });
      }
      if (replayed.state === 'approved') replayed.state = 'revoked';
      return;
    case 'grant.revoked':
      if (grantId) Object.assign(grantFor(replayed, grantId), { revokedAt: event.at, verifiedRevokedAt: data.verified === true ? event.at : null });
      if (replayed.state === 'approved' || replayed.state === 'active') replayed.state = 'revoked';
      return;
    case 'credentials.issued':
      if (grantId) grantFor(replayed, grantId).credentialsIssuedAt = event.at;
      return;
    case 'credentials.issue_failed':
      if (grantId) grantFor(replayed, grantId).credentialsIssuedAt = null;
      return;
    case 'grant.failed':
      replayed.state = 'failed';
      if (grantId) {
        const grant = grantFor(replayed, grantId);
        // Transient: the access may exist, so it is due for revocation now; permanent: nothing exists.
        if (data.cleanup === true) grant.expiresAt = event.at;
        else grant.revokedAt = event.at;
      }
      return;
    default: {
      // request.approved, request.denied, request.cancelled, request.expired, …: the state it names.
      const state = /^request\.(\w+)$/.exec(event.action)?.[1];
      if (!isRequestState(state)) return;
      replayed.state = state;
      if (state === 'approved' || state === 'denied') {
        replayed.decidedAt = event.at;
        replayed.decidedByRule = event.actor.startsWith('policy:') ? String(data.rule ?? event.actor.slice('policy:'.length)) : null;
      }
    }
  }
}

function grantFor(replayed: ReplayedRequest, id: string): ReplayedGrant {
  if (replayed.grant?.id !== id) replayed.grant = { id, grantedAt: null, expiresAt: null, revokedAt: null, endRequestedAt: null, revokedBySlackId: null, credentialsIssuedAt: null, verifiedRevokedAt: null, effectiveEndLagSeconds: null };
  return replayed.grant;
}

function isRequestState(value: string | undefined): value is RequestState {
  return (REQUEST_STATES as readonly string[]).includes(value ?? '');
}

function dataOf(event: ReplayedEvent): Record<string, unknown> {
  return typeof event.data === 'object' && event.data !== null && !Array.isArray(event.data) ? (event.data as Record<string, unknown>) : {};
}

function dateOf(value: unknown): Date | null {
  if (typeof value !== 'string') return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** The rows as stored, in the shape the comparison reads. */
export interface StoredRequest {
  id: string;
  requesterSlackId: string;
  state: string;
  breakGlass: boolean;
  decidedAt: Date | null;
  decidedByRule: string | null;
  reviewedBySlackId: string | null;
  reviewedAt: Date | null;
  [field: string]: unknown;
}

export interface StoredApproval {
  id: string;
  approverSlackId: string;
  requestRevision: number;
  decision: string;
  comment: string | null;
  approverGroups: string[];
  createdAt: Date;
}

export interface StoredGrant {
  id: string;
  principal: string;
  provider: string;
  grantedAt: Date | null;
  expiresAt: Date | null;
  revokedAt: Date | null;
  endRequestedAt: Date | null;
  revokedBySlackId: string | null;
  /** Absent in rows read before the column existed: then it is taken as never issued. */
  credentialsIssuedAt?: Date | null;
  /** Absent in rows read before the column existed: then it is taken as never verified. */
  verifiedRevokedAt?: Date | null;
  /** Absent in rows read before the column existed: then it is taken as none. */
  effectiveEndLagSeconds?: number | null;
}

/** One row field that its events do not account for. */
export interface StateMismatch {
  table: 'access_requests' | 'approvals' | 'grants';
  id: string;
  field: string;
  /** What the events say, and what the row holds, as text fit to print. */
  expected: string;
  found: string;
}

/** Every field of the request's rows that differs from what its events say. */
export function compareWithRows(
  replayed: ReplayedRequest,
  rows: { request: StoredRequest; approvals: readonly StoredApproval[]; grant: StoredGrant | null },
): StateMismatch[] {
  const { request } = rows;
  const mismatches: StateMismatch[] = [];
  const differ = (table: StateMismatch['table'], id: string, field: string, expected: unknown, found: unknown) => {
    if (!sameValue(expected, found)) mismatches.push({ table, id, field, expected: shown(expected), found: shown(found) });
  };
  if (!replayed.created) {
    mismatches.push({ table: 'access_requests', id: request.id, field: 'id', expected: 'a request.created event', found: 'a row without one' });
    return mismatches;
  }
  for (const [field, value] of Object.entries(replayed.asked)) differ('access_requests', request.id, field, value, request[field]);
  differ('access_requests', request.id, 'state', replayed.state, request.state);
  if (replayed.decidedAt !== undefined) differ('access_requests', request.id, 'decidedAt', replayed.decidedAt, request.decidedAt);
  differ('access_requests', request.id, 'decidedByRule', replayed.decidedByRule, request.decidedByRule);
  differ('access_requests', request.id, 'reviewedBySlackId', replayed.reviewedBySlackId, request.reviewedBySlackId);
  differ('access_requests', request.id, 'reviewedAt', replayed.reviewedAt, request.reviewedAt);

  const recorded = new Map(replayed.approvals.map((approval) => [`${approval.revision}/${approval.approverSlackId}`, approval]));
  for (const row of rows.approvals) {
    const key = `${row.requestRevision}/${row.approverSlackId}`;
    const approval = recorded.get(key);
    recorded.delete(key);
    if (!approval) {
      mismatches.push({ table: 'approvals', id: row.id, field: 'id', expected: 'an approval.recorded event', found: `a ${row.decision} by ${row.approverSlackId} without one` });
      continue;
    }
    differ('approvals', row.id, 'decision', approval.decision, row.decision);
    differ('approvals', row.id, 'comment', approval.comment, row.comment);
    differ('approvals', row.id, 'approverGroups', approval.groups, row.approverGroups);
    differ('approvals', row.id, 'createdAt', approval.at, row.createdAt);
  }
  for (const approval of recorded.values()) {
    mismatches.push({ table: 'approvals', id: request.id, field: 'id', expected: `the ${approval.decision} by ${approval.approverSlackId} its event records`, found: 'no row' });
  }

  const { grant } = rows;
  if (replayed.grant) {
    if (!grant || grant.id !== replayed.grant.id) {
      mismatches.push({ table: 'grants', id: replayed.grant.id, field: 'id', expected: 'the grant its events record', found: grant ? `grant ${grant.id}` : 'no row' });
    } else {
      differ('grants', grant.id, 'grantedAt', replayed.grant.grantedAt, grant.grantedAt);
      differ('grants', grant.id, 'expiresAt', replayed.grant.expiresAt, grant.expiresAt);
      differ('grants', grant.id, 'revokedAt', replayed.grant.revokedAt, grant.revokedAt);
      differ('grants', grant.id, 'endRequestedAt', replayed.grant.endRequestedAt, grant.endRequestedAt);
      differ('grants', grant.id, 'revokedBySlackId', replayed.grant.revokedBySlackId, grant.revokedBySlackId);
      differ('grants', grant.id, 'credentialsIssuedAt', replayed.grant.credentialsIssuedAt, grant.credentialsIssuedAt ?? null);
      differ('grants', grant.id, 'verifiedRevokedAt', replayed.grant.verifiedRevokedAt, grant.verifiedRevokedAt ?? null);
      differ('grants', grant.id, 'effectiveEndLagSeconds', replayed.grant.effectiveEndLagSeconds, grant.effectiveEndLagSeconds ?? null);
      if (replayed.grant.principal !== undefined) differ('grants', grant.id, 'principal', replayed.grant.principal, grant.principal);
      if (replayed.grant.provider !== undefined) differ('grants', grant.id, 'provider', replayed.grant.provider, grant.provider);
    }
  } else if (grant && (grant.grantedAt || grant.expiresAt || grant.revokedAt)) {
    // A row only counting attempts is written before the provider acts, without an event.
    mismatches.push({ table: 'grants', id: grant.id, field: 'grantedAt', expected: 'no grant (no grant event)', found: shown(grant.grantedAt ?? grant.expiresAt ?? grant.revokedAt) });
  }
  return mismatches;
}

function normalised(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(value)) return new Date(value).toISOString();
  if (value === undefined) return null;
  return value;
}

function sameValue(a: unknown, b: unknown): boolean {
  // canonicalJson: jsonb keeps an object's keys in an order of its own (a scope's parameters).
  return canonicalJson(normalisedAll(a)) === canonicalJson(normalisedAll(b));
}

function normalisedAll(value: unknown): unknown {
  return Array.isArray(value) ? value.map(normalised) : normalised(value);
}

function shown(value: unknown): string {
  const normal = normalisedAll(value);
  return normal === null ? 'null' : typeof normal === 'string' ? normal : JSON.stringify(normal);
}
