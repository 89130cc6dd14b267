import { auditHash, GENESIS_HASH } from '../domain/audit-hash.ts';
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
}

/**
 * Appends one event to the hash chain, inside the caller's transaction, so the event exists if
 * and only if the state change it records does. A transaction-scoped advisory lock makes
 * concurrent writers take turns reading the chain head: sequence numbers have no gap and the
 * chain no fork. The lock is held until commit, which is why state-changing transactions stay short.
 */
export async function appendAuditEvent(tx: Transaction, entry: AuditEntry): Promise<{ seq: bigint; hash: string }> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(${AUDIT_CHAIN_LOCK_KEY})`;
  const head = await tx.auditEvent.findFirst({ orderBy: { seq: 'desc' }, select: { seq: true, hash: true } });
  const seq = (head?.seq ?? 0n) + 1n;
  const prevHash = head?.hash ?? GENESIS_HASH;
  const requestId = entry.requestId ?? null;
  const data = entry.data ?? {};
  // Stored with millisecond precision (timestamptz(3)), so hash the time as it will read back.
  const at = new Date(Math.floor(entry.at.getTime()));
  const hash = auditHash({ seq, at, actor: entry.actor, action: entry.action, requestId, data, prevHash });
  await tx.auditEvent.create({ data: { seq, at, actor: entry.actor, action: entry.action, requestId, data, prevHash, hash } });
  return { seq, hash };
}
