import { TRANSPORT_KEY, type SlackRequestEvidence } from '../domain/decision-evidence.ts';
import type { Prisma } from './generated/client.ts';
import { preparedStatement, type PreparedStatement } from './prepared-statement.ts';
import { executeIn, type AnyTransaction, type SqlTransaction } from './sql-transaction.ts';

export interface AuditEntry {
  /** Slack user id, or `latch` / `policy:<rule>` for what Latch did by itself. */
  actor: string;
  /** Dotted verb: `request.created`, `approval.recorded`, `request.approved`, … */
  action: string;
  requestId?: string | null;
  data?: Prisma.InputJsonValue;
  at: Date;
  /**
   * A person's decision: how it reached Latch, recorded in the event's data, and over HTTP the
   * signed Slack request itself, stored beside the event in the same transaction.
   */
  evidence?: SlackRequestEvidence | undefined;
}

/**
 * The events each open transaction has recorded, in order, until inSqlTransaction or
 * inTransaction writes them just before COMMIT (writeRecordedAuditEvents). Keyed by the
 * transaction, so nothing outlives it.
 */
const recorded = new WeakMap<AnyTransaction, AuditEntry[]>();

/**
 * Records one event for the hash chain, inside the caller's transaction, so the event exists if
 * and only if the state change it records does. See appendAuditEvents.
 */
export async function appendAuditEvent(tx: AnyTransaction, entry: AuditEntry): Promise<void> {
  await appendAuditEvents(tx, [entry]);
}

/**
 * Records events for the hash chain, in the order given, inside the caller's transaction; they
 * are written when the transaction's work is done, just before it commits, so they exist if and
 * only if the state changes they record do. A use case may call this anywhere in its transaction:
 * the chain's lock is not taken here.
 *
 * Why at the end, and chained at COMMIT: every writer in every process takes turns on one lock to
 * extend the chain, and holds it until COMMIT. Appending as events happened held it across the
 * rest of the transaction's round trips (about seven for a decision); written at the end it was
 * still held across the COMMIT's round trip, and under load decisions queued on it (8–10 ms a
 * hold, 50 decisions a second). Staged in one statement and chained by a trigger at COMMIT, it is
 * held for the commit alone.
 */
export async function appendAuditEvents(tx: AnyTransaction, entries: readonly AuditEntry[]): Promise<void> {
  const events = recorded.get(tx);
  // A transaction not opened by transaction.ts would never write them: refuse rather than lose them.
  if (!events) throw new Error('audit events are appended inside inTransaction or inSqlTransaction (src/store/transaction.ts), which write them before COMMIT');
  events.push(...entries);
}

/** Called by transaction.ts when a transaction opens: from here its events are recorded. */
export function startRecordingAuditEvents(tx: AnyTransaction): void {
  recorded.set(tx, []);
}

/**
 * Writes the events the transaction recorded, as its last statement before COMMIT, in one round
 * trip: latch_append_audit_events stages them, and at COMMIT a deferred trigger (migration
 * 20261207120000) takes the chain's lock, reads the head, hashes (format 2,
 * src/domain/audit-hash.ts) and inserts every event, and the signed Slack request beside each
 * person's decision, so the lock is held for the commit alone. Nothing to write, no statement.
 */
export async function writeRecordedAuditEvents(tx: AnyTransaction): Promise<void> {
  const append = takeRecordedAuditEvents(tx);
  if (append) await executeIn(tx, append.text, append.values);
}

/**
 * The statement that writes the events the transaction recorded (see writeRecordedAuditEvents),
 * which from here are the caller's to send; null when there are none.
 */
export function takeRecordedAuditEvents(tx: AnyTransaction): { text: string; values: unknown[] } | null {
  const entries = recorded.get(tx) ?? [];
  recorded.delete(tx);
  if (entries.length === 0) return null;
  return { text: APPEND_AUDIT_EVENTS, values: auditEventArguments(entries) };
}

/**
 * The eight arguments latch_append_audit_events takes for `entries`, in its order (the events'
 * times, actors, actions, request ids, data, and each one's signed Slack request or nulls), for a
 * statement that appends its own events as one of its parts, after the state change they record
 * (store/decision-write.ts, store/grant-writes.ts), so the change and its events commit together
 * in one round trip; the events are chained at that commit, as writeRecordedAuditEvents's are.
 */
export function auditEventArguments(entries: readonly AuditEntry[]): unknown[] {
  const evidence = entries.map((entry) => (entry.evidence?.transport === 'http' ? entry.evidence : null));
  return [
    // Stored with millisecond precision (timestamptz(3)); the database hashes the time as stored.
    entries.map((entry) => new Date(Math.floor(entry.at.getTime())).toISOString()),
    entries.map((entry) => entry.actor),
    entries.map((entry) => entry.action),
    entries.map((entry) => entry.requestId ?? null),
    entries.map((entry) => JSON.stringify(withTransport(entry.data ?? {}, entry.evidence))),
    evidence.map((signed) => signed?.timestamp ?? null),
    evidence.map((signed) => signed?.signature ?? null),
    evidence.map((signed) => (signed ? Buffer.from(signed.rawBody).toString('hex') : null)),
  ];
}

/** latch_append_audit_events's parameters as auditEventArguments gives them, numbered from `first`. */
export function auditEventParameters(first: number): string {
  const types = ['timestamptz', 'text', 'text', 'uuid', 'jsonb', 'text', 'text', 'text'];
  return types.map((type, index) => `$${first + index}::${type}[]`).join(', ');
}

const APPEND_AUDIT_EVENTS = `SELECT latch_append_audit_events(${auditEventParameters(1)})`;

/**
 * Runs the transaction's last state change and writes the events recorded so far in the same
 * statement, one round trip instead of two: the events are appended if and only if the statement
 * gave back a row (an INSERT … RETURNING that inserted, an UPDATE … RETURNING that matched), so a
 * change refused by its own condition (a limit checked in the statement) writes no event. Gives
 * back the statement's rows. Events recorded after it are written before COMMIT as usual.
 *
 * `thenCommit`: COMMIT goes behind the statement in the same write (SqlTransaction.rowsThenCommit),
 * for a statement that is the transaction's one change; nothing may be recorded or run after it.
 * A PreparedStatement stays one with its events (named after it, `…_with_audit_events`).
 *
 * `statement` must be one statement that returns rows and whose parameters are `$1`… `values.length`:
 * it becomes a data-modifying CTE (so not one with a WITH of its own that modifies data). The
 * events are staged by it and chained at COMMIT, as writeRecordedAuditEvents's are, so the chain's
 * lock is not taken here; the events name rows the change made (a request's id), which exist by
 * the time they are chained.
 */
export async function rowsWithRecordedAuditEvents<Row>(
  tx: SqlTransaction,
  statement: string | PreparedStatement,
  values: readonly unknown[],
  { thenCommit = false }: { thenCommit?: boolean } = {},
): Promise<Row[]> {
  const append = takeRecordedAuditEvents(tx);
  startRecordingAuditEvents(tx);
  const run = (sent: string | PreparedStatement, parameters: readonly unknown[]) => (thenCommit ? tx.rowsThenCommit<Row>(sent, parameters) : tx.rows<Row>(sent, parameters));
  if (!append) return run(statement, values);
  const text = typeof statement === 'string' ? statement : statement.text;
  // `appended` is read in a one-time filter, evaluated before the rows are: it runs the change
  // (EXISTS reads it) and then, only if a row came back, the append.
  const withEvents = `WITH latch_change AS (${text}),
          latch_appended AS (SELECT latch_append_audit_events(${auditEventParameters(values.length + 1)}) WHERE EXISTS (SELECT 1 FROM latch_change))
     SELECT latch_change.* FROM latch_change WHERE (SELECT count(*) FROM latch_appended) >= 0`;
  // A prepared change stays prepared with its events: its text depends only on the change's.
  return run(typeof statement === 'string' ? withEvents : preparedStatement(`${statement.name.replace(/^latch_/, '')}_with_audit_events`, withEvents), [...values, ...append.values]);
}

function withTransport(data: Prisma.InputJsonValue, evidence: SlackRequestEvidence | undefined): Prisma.InputJsonValue {
  if (!evidence) return data;
  const object = typeof data === 'object' && data !== null && !Array.isArray(data) ? data : { value: data };
  return { ...object, [TRANSPORT_KEY]: evidence.transport };
}
