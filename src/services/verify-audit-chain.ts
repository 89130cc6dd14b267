import { AuditChainChecker } from '../domain/audit-chain.ts';
import { auditHash, sha256Hex } from '../domain/audit-hash.ts';
import { readAuditChain, readAuditHash, type AuditChainBatch } from '../store/audit-chain-reader.ts';
import { AuditHashInputWriter } from '../store/audit-hash-input-writer.ts';

export type AuditChainReport =
  | { ok: true; events: number; head: { seq: bigint; hash: string } | null }
  | { ok: false; events: number; seq: bigint; message: string };

/** A chain head published outside the database (a digest posted in Slack): `seq` and its hash. */
export type ChainAnchor = { seq: bigint; hash: string };

/**
 * Walks the whole audit chain in sequence order, in batches (constant memory), and reports the
 * first event that was altered (its hash no longer matches its content), removed (a gap in the
 * sequence) or inserted, replaced or reordered (it does not link to the event before it).
 *
 * An event of hash format 2 costs one SHA-256 of bytes written from its stored columns as they
 * arrive (no string made of its data, no JSON parsed); older events are hashed from their fields
 * as they always were. Every event goes through the same AuditChainChecker as an export's, so
 * what is reported, and when, is the checker's.
 */
export async function verifyAuditChain(databaseUrl: string, anchor?: ChainAnchor): Promise<AuditChainReport> {
  const checker = new AuditChainChecker('genesis');
  const writer = new AuditHashInputWriter();
  for await (const batch of readAuditChain(databaseUrl)) {
    for (let row = 0; row < batch.length; row++) {
      const hashFormat = batch.hashFormat(row);
      const problem = checker.checkLink(batch.link(row), contentHash(batch, row, hashFormat, writer), hashFormat);
      if (problem) return { ok: false, events: checker.events, ...problem };
    }
  }
  const head = checker.head;
  if (anchor) {
    // The chain up to its head is intact; the anchor says how far it reached when it was published.
    if (!head || head.seq < anchor.seq) {
      const last = head ? `ends at event ${head.seq}` : 'is empty';
      return { ok: false, events: checker.events, seq: anchor.seq, message: `the chain ${last}, before the anchor event ${anchor.seq}: events were cut off its end` };
    }
    if ((await readAuditHash(databaseUrl, anchor.seq)) !== anchor.hash) {
      return { ok: false, events: checker.events, seq: anchor.seq, message: `event ${anchor.seq} is not the anchored one: its hash differs from the anchor's (the chain was rewritten from there)` };
    }
  }
  return { ok: true, events: checker.events, head };
}

/** The hash of the event's content by the rule of its format; null for a format this code does not know. */
function contentHash(batch: AuditChainBatch, row: number, hashFormat: number, writer: AuditHashInputWriter): string | null {
  if (hashFormat === 2) return batch.writeHashInputV2(row, writer) ? sha256Hex(writer.bytes) : null;
  if (hashFormat === 1) return auditHash(batch.content(row));
  return null;
}
