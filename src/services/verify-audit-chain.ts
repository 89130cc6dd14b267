import { AuditChainChecker } from '../domain/audit-chain.ts';
import { auditHash, sha256Hex } from '../domain/audit-hash.ts';
import { readAuditChain, readAuditHash, type AuditChainRow } from '../store/audit-chain-reader.ts';

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
 * Events of hash format 2 arrive with the text their hash covers, rendered by PostgreSQL: one
 * SHA-256 each, no JSON parsed. Older events are hashed from their fields as they always were.
 */
export async function verifyAuditChain(databaseUrl: string, anchor?: ChainAnchor): Promise<AuditChainReport> {
  const checker = new AuditChainChecker('genesis');
  for await (const batch of readAuditChain(databaseUrl)) {
    for (const row of batch) {
      const [seq, format, prevHash, hash, v2Input] = row;
      const hashFormat = Number(format);
      const problem = checker.checkLink({ seq: BigInt(seq), prevHash, hash }, v2Input !== null ? sha256Hex(v2Input) : hashFromFields(row, hashFormat), hashFormat);
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

/** An event of a format other than 2, hashed in Node from its fields; null for an unknown format. */
function hashFromFields([seq, , prevHash, , , atMs, actor, action, requestId, data]: AuditChainRow, hashFormat: number): string | null {
  if (hashFormat !== 1) return null;
  return auditHash({ seq: BigInt(seq), at: new Date(Number(atMs)), actor: actor!, action: action!, requestId, data: JSON.parse(data!) as unknown, prevHash, hashFormat });
}
