import { TRANSPORT_KEY, type SlackRequestEvidence } from '../domain/decision-evidence.ts';
import type { Prisma } from './generated/client.ts';
import type { Transaction } from './transaction.ts';

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
 * The events each open transaction has recorded, in order, until inTransaction writes them just
 * before COMMIT (writeRecordedAuditEvents). Keyed by the transaction client, so nothing outlives
 * its transaction.
 */
const recorded = new WeakMap<Transaction, AuditEntry[]>();

/**
 * Records one event for the hash chain, inside the caller's transaction, so the event exists if
 * and only if the state change it records does. See appendAuditEvents.
 */
export async function appendAuditEvent(tx: Transaction, entry: AuditEntry): Promise<void> {
  await appendAuditEvents(tx, [entry]);
}

/**
 * Records events for the hash chain, in the order given, inside the caller's transaction; they
 * are written when the transaction's work is done, just before it commits, so they exist if and
 * only if the state changes they record do. A use case may call this anywhere in its transaction:
 * the chain's lock is not taken here.
 *
 * Why at the end: every writer in every process takes turns on one lock to extend the chain, and
 * holds it until COMMIT. Appending as events happened held it across the rest of the
 * transaction's round trips (about seven for a decision), so decisions queued on it; written at
 * the end, in one statement, it is held for that statement and the COMMIT.
 */
export async function appendAuditEvents(tx: Transaction, entries: readonly AuditEntry[]): Promise<void> {
  const events = recorded.get(tx);
  // A transaction not opened by inTransaction would never write them: refuse rather than lose them.
  if (!events) throw new Error('audit events are appended inside inTransaction (src/store/transaction.ts), which writes them before COMMIT');
  events.push(...entries);
}

/** Called by inTransaction when a transaction opens: from here its events are recorded. */
export function startRecordingAuditEvents(tx: Transaction): void {
  recorded.set(tx, []);
}

/**
 * Writes the events the transaction recorded, as its last statement before COMMIT, in one round
 * trip: latch_append_audit_events (migration 20261203210000) takes the chain's lock, reads the
 * head, hashes (format 2, src/domain/audit-hash.ts) and inserts every event, and the signed
 * Slack request beside each person's decision. Nothing to write, no statement and no lock.
 */
export async function writeRecordedAuditEvents(tx: Transaction): Promise<void> {
  const entries = recorded.get(tx) ?? [];
  recorded.delete(tx);
  if (entries.length === 0) return;
  const evidence = entries.map((entry) => (entry.evidence?.transport === 'http' ? entry.evidence : null));
  // Stored with millisecond precision (timestamptz(3)); the database hashes the time as stored.
  await tx.$executeRaw`
    SELECT latch_append_audit_events(
      ${entries.map((entry) => new Date(Math.floor(entry.at.getTime())).toISOString())}::timestamptz[],
      ${entries.map((entry) => entry.actor)}::text[],
      ${entries.map((entry) => entry.action)}::text[],
      ${entries.map((entry) => entry.requestId ?? null)}::uuid[],
      ${entries.map((entry) => JSON.stringify(withTransport(entry.data ?? {}, entry.evidence)))}::jsonb[],
      ${evidence.map((signed) => signed?.timestamp ?? null)}::text[],
      ${evidence.map((signed) => signed?.signature ?? null)}::text[],
      ${evidence.map((signed) => (signed ? Buffer.from(signed.rawBody).toString('hex') : null))}::text[])`;
}

function withTransport(data: Prisma.InputJsonValue, evidence: SlackRequestEvidence | undefined): Prisma.InputJsonValue {
  if (!evidence) return data;
  const object = typeof data === 'object' && data !== null && !Array.isArray(data) ? data : { value: data };
  return { ...object, [TRANSPORT_KEY]: evidence.transport };
}
