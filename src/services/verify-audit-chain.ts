import { auditHash, GENESIS_HASH } from '../domain/audit-hash.ts';
import type { Database } from '../store/database.ts';
import type { AuditEvent } from '../store/generated/client.ts';

export type AuditChainReport =
  | { ok: true; events: number; head: { seq: bigint; hash: string } | null }
  | { ok: false; events: number; seq: bigint; message: string };

const BATCH = 1000;

/**
 * Walks the whole audit chain in sequence order, in batches (constant memory), and reports the
 * first event that was altered (its hash no longer matches its content), removed (a gap in the
 * sequence) or inserted, replaced or reordered (it does not link to the event before it).
 */
export async function verifyAuditChain(db: Database): Promise<AuditChainReport> {
  let previous: { seq: bigint; hash: string } | null = null;
  let events = 0;
  for (;;) {
    const batch: AuditEvent[] = await db.auditEvent.findMany({
      where: previous ? { seq: { gt: previous.seq } } : {},
      orderBy: { seq: 'asc' },
      take: BATCH,
    });
    for (const event of batch) {
      const expectedSeq: bigint = (previous?.seq ?? 0n) + 1n;
      if (event.seq !== expectedSeq) {
        return { ok: false, events, seq: expectedSeq, message: `event ${expectedSeq} is missing: the sequence jumps to ${event.seq} (removed)` };
      }
      const expectedPrev: string = previous?.hash ?? GENESIS_HASH;
      if (event.prevHash !== expectedPrev) {
        return { ok: false, events, seq: event.seq, message: `event ${event.seq} does not link to the event before it (inserted, replaced or reordered)` };
      }
      if (auditHash(event) !== event.hash) {
        return { ok: false, events, seq: event.seq, message: `event ${event.seq} does not match its hash (altered)` };
      }
      previous = { seq: event.seq, hash: event.hash };
      events += 1;
    }
    if (batch.length < BATCH) return { ok: true, events, head: previous };
  }
}
