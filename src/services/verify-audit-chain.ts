import { AuditChainChecker } from '../domain/audit-chain.ts';
import type { Database } from '../store/database.ts';
import type { AuditEvent } from '../store/generated/client.ts';

export type AuditChainReport =
  | { ok: true; events: number; head: { seq: bigint; hash: string } | null }
  | { ok: false; events: number; seq: bigint; message: string };

const BATCH = 1000;

/** A chain head published outside the database (a digest posted in Slack): `seq` and its hash. */
export type ChainAnchor = { seq: bigint; hash: string };

/**
 * Walks the whole audit chain in sequence order, in batches (constant memory), and reports the
 * first event that was altered (its hash no longer matches its content), removed (a gap in the
 * sequence) or inserted, replaced or reordered (it does not link to the event before it).
 */
export async function verifyAuditChain(db: Database, anchor?: ChainAnchor): Promise<AuditChainReport> {
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
    if (batch.length < BATCH) break;
  }
  const head = checker.head;
  if (anchor) {
    // The chain up to its head is intact; the anchor says how far it reached when it was published.
    if (!head || head.seq < anchor.seq) {
      const last = head ? `ends at event ${head.seq}` : 'is empty';
      return { ok: false, events: checker.events, seq: anchor.seq, message: `the chain ${last}, before the anchor event ${anchor.seq}: events were cut off its end` };
    }
    const anchored = await db.auditEvent.findUnique({ where: { seq: anchor.seq }, select: { hash: true } });
    if (anchored?.hash !== anchor.hash) {
      return { ok: false, events: checker.events, seq: anchor.seq, message: `event ${anchor.seq} is not the anchored one: its hash differs from the anchor's (the chain was rewritten from there)` };
    }
  }
  return { ok: true, events: checker.events, head };
}
