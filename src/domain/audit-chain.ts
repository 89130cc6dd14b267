import { auditHash, GENESIS_HASH, isAuditHashFormat, type AuditContent } from './audit-hash.ts';

export interface ChainedEvent extends AuditContent {
  hash: string;
}

export type ChainLink = { seq: bigint; hash: string };

/** An event's place in the chain: what links it, before its content is looked at. */
export type EventLink = { seq: bigint; prevHash: string; hash: string };

/**
 * Checks events one at a time, in sequence order, against the chain so far: a gap in the sequence
 * (removed), a wrong link to the event before (inserted, replaced or reordered), or a hash that no
 * longer matches the content (altered). Pure and streaming, so the database walk and the check of
 * an export file share it and neither holds more than one event.
 *
 * `anchor` is where checking starts: null for the start of the chain (the genesis hash); for an
 * export of a period, the first event's own link is taken as given, and the report says what it
 * is, so it can be compared with the chain or a published head.
 */
export class AuditChainChecker {
  private previous: ChainLink | null;
  private anchored: boolean;
  events = 0;

  constructor(anchor: 'genesis' | 'first-event') {
    this.previous = null;
    this.anchored = anchor === 'genesis';
  }

  /** Null when the event fits; otherwise the problem, naming the sequence number. */
  check(event: ChainedEvent): { seq: bigint; message: string } | null {
    const format = event.hashFormat ?? 1;
    return this.checkLink(event, isAuditHashFormat(format) ? auditHash(event) : null, format);
  }

  /**
   * The same check, with the content's hash computed by the caller (a reader that has the text
   * an event's format hashes, ready from the database); null means the event's format is unknown.
   */
  checkLink(link: EventLink, contentHash: string | null, format: number): { seq: bigint; message: string } | null {
    if (!this.anchored) {
      this.anchored = true;
      this.previous = { seq: link.seq - 1n, hash: link.prevHash };
    }
    const expectedSeq = (this.previous?.seq ?? 0n) + 1n;
    if (link.seq !== expectedSeq) {
      return { seq: expectedSeq, message: `event ${expectedSeq} is missing: the sequence jumps to ${link.seq} (removed)` };
    }
    const expectedPrev = this.previous?.hash ?? GENESIS_HASH;
    if (link.prevHash !== expectedPrev) {
      return { seq: link.seq, message: `event ${link.seq} does not link to the event before it (inserted, replaced or reordered)` };
    }
    if (contentHash === null) return { seq: link.seq, message: `event ${link.seq} has a hash format this Latch does not know (${format}): altered, or written by a newer Latch` };
    if (contentHash !== link.hash) return { seq: link.seq, message: `event ${link.seq} does not match its hash (altered)` };
    this.previous = { seq: link.seq, hash: link.hash };
    this.events += 1;
    return null;
  }

  get head(): ChainLink | null {
    return this.events > 0 ? this.previous : null;
  }
}
