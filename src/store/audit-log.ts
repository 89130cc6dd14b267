import { auditHash, GENESIS_HASH } from '../domain/audit-hash.ts';
import { TRANSPORT_KEY, type SlackRequestEvidence } from '../domain/decision-evidence.ts';
import type { Prisma } from './generated/client.ts';
import type { Transaction } from './transaction.ts';

/** Arbitrary constant: the key of the transaction-scoped lock that orders audit appends. */
const AUDIT_CHAIN_LOCK_KEY = 4_917_320_118n;

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
 * Appends one event to the hash chain, inside the caller's transaction, so the event exists if
 * and only if the state change it records does. See appendAuditEvents.
 */
export async function appendAuditEvent(tx: Transaction, entry: AuditEntry): Promise<{ seq: bigint; hash: string }> {
  const [appended] = await appendAuditEvents(tx, [entry]);
  return appended!;
}

/**
 * Appends events to the hash chain in the order given, inside the caller's transaction, so they
 * exist if and only if the state changes they record do. A transaction-scoped advisory lock makes
 * concurrent writers take turns reading the chain head: sequence numbers have no gap and the chain
 * no fork. The lock is held until commit and every writer in every process queues on it, so it is
 * taken as late as possible (call this last in the transaction) and held for three round trips
 * only: read the head, insert every event in one statement, commit. Writers with many changes at
 * once (revocations) append them all under one turn of the lock rather than one turn each.
 *
 * The head is read in a statement of its own after the lock is granted: in READ COMMITTED a
 * statement sees what was committed when it started, so a read in the statement that waited for
 * the lock could miss the previous holder's events and fork the chain.
 */
export async function appendAuditEvents(tx: Transaction, entries: readonly AuditEntry[]): Promise<Array<{ seq: bigint; hash: string }>> {
  if (entries.length === 0) return [];
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(${AUDIT_CHAIN_LOCK_KEY})`;
  // Aliased: `seq::text AS seq` would make ORDER BY seq sort the text ("9" after "10").
  const [head] = await tx.$queryRaw<Array<{ head_seq: string; hash: string }>>`SELECT seq::text AS head_seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1`;
  let seq = head ? BigInt(head.head_seq) : 0n;
  let prevHash = head?.hash ?? GENESIS_HASH;
  const rows = entries.map((entry) => {
    seq += 1n;
    const requestId = entry.requestId ?? null;
    const data = withTransport(entry.data ?? {}, entry.evidence);
    // Stored with millisecond precision (timestamptz(3)), so hash the time as it will read back.
    const at = new Date(Math.floor(entry.at.getTime()));
    const hash = auditHash({ seq, at, actor: entry.actor, action: entry.action, requestId, data, prevHash });
    const row = { seq, at, actor: entry.actor, action: entry.action, requestId, data, prevHash, hash };
    prevHash = hash;
    return row;
  });
  // One statement of one shape for any number of events (the ORM's createMany costs several
  // times the CPU, and that time is spent holding the lock).
  await tx.$executeRaw`
    INSERT INTO audit_events (seq, at, actor, action, request_id, data, prev_hash, hash)
    SELECT * FROM unnest(
      ${rows.map((row) => row.seq.toString())}::bigint[], ${rows.map((row) => row.at.toISOString())}::timestamptz[],
      ${rows.map((row) => row.actor)}::text[], ${rows.map((row) => row.action)}::text[], ${rows.map((row) => row.requestId)}::uuid[],
      ${rows.map((row) => JSON.stringify(row.data))}::jsonb[], ${rows.map((row) => row.prevHash)}::text[], ${rows.map((row) => row.hash)}::text[])`;
  // A person's signed Slack request, beside its event: one more round trip under the lock, for
  // decisions only (rare next to what Latch writes by itself).
  const signed = entries.flatMap((entry, i) => (entry.evidence?.transport === 'http' ? [{ seq: rows[i]!.seq, evidence: entry.evidence }] : []));
  for (const { seq, evidence } of signed) {
    await tx.$executeRaw`
      INSERT INTO decision_evidence (audit_seq, slack_timestamp, slack_signature, raw_body)
      VALUES (${seq.toString()}::bigint, ${evidence.timestamp}, ${evidence.signature}, ${Buffer.from(evidence.rawBody)})`;
  }
  return rows.map(({ seq, hash }) => ({ seq, hash }));
}

function withTransport(data: Prisma.InputJsonValue, evidence: SlackRequestEvidence | undefined): Prisma.InputJsonValue {
  if (!evidence) return data;
  const object = typeof data === 'object' && data !== null && !Array.isArray(data) ? data : { value: data };
  return { ...object, [TRANSPORT_KEY]: evidence.transport };
}
