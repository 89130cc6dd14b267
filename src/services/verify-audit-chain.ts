import { AuditChainChecker } from '../domain/audit-chain.ts';
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
  const checker = new AuditChainChecker('genesis');
  let after: bigint | null = null;
  for (;;) {
    const batch: AuditEvent[] = await db.auditEvent.findMany({
      where: after === null ? {} : { seq: { gt: after } },
      orderBy: { seq: 'asc' },
      take: BATCH,
    });
    for (const event of batch) {
      const problem = checker.check(event);
      if (problem) return { ok: false, events: checker.events, ...problem };
      after = event.seq;
    }
    if (batch.length < BATCH) return { ok: true, events: checker.events, head: checker.head };
  }
}
