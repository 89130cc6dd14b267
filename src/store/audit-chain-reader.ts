import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import type { ChainedEvent, EventLink } from '../domain/audit-chain.ts';
import type { AuditContent } from '../domain/audit-hash.ts';
import { piece, type AuditHashInputWriter } from './audit-hash-input-writer.ts';

/**
 * The whole chain in one `COPY … TO STDOUT (FORMAT binary)`, in sequence order: the stored
 * columns as the table holds them, nothing rendered by the database but jsonb's own output of
 * the data (what format 2 hashes) and, for a time outside years 1 to 9999, to_char's rendering of
 * it (which AuditHashInputWriter leaves to the database). Format 2's hash input is written in
 * Node from these bytes, so whoever can replace a function in the database cannot change what
 * the verifier hashes, and the database does a third of the work it did rendering the text.
 * Built-ins are schema-qualified for the same reason. Ordered by the table's column.
 */
const chainCopy = (range: SeqRange | null) => `COPY (
  SELECT seq, hash_format, prev_hash, hash, at, actor, action, request_id, data::text,
    CASE WHEN at < '0001-01-01 00:00:00+00' OR at >= '10000-01-01 00:00:00+00'
      THEN pg_catalog.to_char(pg_catalog.timezone('UTC', at), 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') END
  FROM audit_events${range ? ` WHERE seq >= ${range.first.toString()} AND seq <= ${range.last.toString()}` : ''} ORDER BY audit_events.seq
) TO STDOUT (FORMAT binary)`;

/**
 * The events from sequence number `first` to `last`, both included. COPY takes no parameters:
 * the bounds are bigints written out as their digits, never text from outside.
 */
export interface SeqRange {
  first: bigint;
  last: bigint;
}

/** Where each column of chainCopy's is in an event. */
const Column = { Seq: 0, HashFormat: 1, PrevHash: 2, Hash: 3, At: 4, Actor: 5, Action: 6, RequestId: 7, Data: 8, AtText: 9 } as const;
type Column = (typeof Column)[keyof typeof Column];
const COLUMNS = 10;

const OPENING = piece('["latch-audit-v2", "');
const QUOTE_COMMA_QUOTE = piece('", "');
const QUOTE_COMMA = piece('", ');
const COMMA = piece(', ');
const NULL = piece('null');
const CLOSING = piece(']');

/** Microseconds from 1970 to 2000, PostgreSQL's epoch for timestamps. */
const PG_EPOCH_MICROS_FROM_UNIX = 946_684_800_000_000;

/**
 * The events of one piece of the COPY stream, each column's place in `bytes` (start, and length
 * or -1 for NULL): read on demand, so an event that checks out costs no object beyond its link.
 */
export class AuditChainBatch {
  constructor(
    private readonly bytes: Buffer,
    private readonly starts: Int32Array,
    private readonly lengths: Int32Array,
    readonly length: number,
  ) {}

  hashFormat(row: number): number {
    return this.bytes.readInt16BE(this.starts[row * COLUMNS + Column.HashFormat]!);
  }

  /**
   * What links the event into the chain. Its hashes are read as Latin-1, not UTF-8: the same
   * strings for the hex that every intact hash is (the one the report shows), and for anything
   * else strings that equal each other exactly when their bytes do and never equal hex, which is
   * all the check asks of them; Latin-1 costs a third less to read.
   */
  link(row: number): EventLink {
    return { seq: this.seq(row), prevHash: this.latin1(row, Column.PrevHash), hash: this.latin1(row, Column.Hash) };
  }

  /**
   * Writes the text format 2 hashes for this event; false when it has none (a time of ±infinity,
   * which the database renders as NULL, so the event cannot be of format 2).
   */
  writeHashInputV2(row: number, writer: AuditHashInputWriter): boolean {
    const { bytes, starts, lengths } = this;
    const base = row * COLUMNS;
    const actorAt = starts[base + Column.Actor]!;
    const actionAt = starts[base + Column.Action]!;
    const prevAt = starts[base + Column.PrevHash]!;
    const dataAt = starts[base + Column.Data]!;
    const actorEnd = actorAt + lengths[base + Column.Actor]!;
    const actionEnd = actionAt + lengths[base + Column.Action]!;
    const prevEnd = prevAt + lengths[base + Column.PrevHash]!;
    writer.start(actorEnd - actorAt + actionEnd - actionAt + prevEnd - prevAt + lengths[base + Column.Data]! + Math.max(lengths[base + Column.AtText]!, 0));
    writer.constant(OPENING);
    const seqAt = starts[base + Column.Seq]!;
    const seqHigh = bytes.readInt32BE(seqAt);
    // Below 2^53 as a number; beyond (or negative), as a bigint's text.
    if (seqHigh >= 0 && seqHigh < 0x200000) writer.decimal(seqHigh * 0x1_0000_0000 + bytes.readUInt32BE(seqAt + 4));
    else writer.text(bytes.readBigInt64BE(seqAt).toString());
    writer.constant(QUOTE_COMMA_QUOTE);
    if (lengths[base + Column.AtText]! >= 0) {
      writer.raw(bytes, starts[base + Column.AtText]!, starts[base + Column.AtText]! + lengths[base + Column.AtText]!);
    } else if (!writer.isoMillis(this.unixMillis(row))) {
      return false;
    }
    writer.constant(QUOTE_COMMA);
    writer.jsonString(bytes, actorAt, actorEnd);
    writer.constant(COMMA);
    writer.jsonString(bytes, actionAt, actionEnd);
    writer.constant(COMMA);
    if (lengths[base + Column.RequestId]! < 0) writer.constant(NULL);
    else writer.jsonUuid(bytes, starts[base + Column.RequestId]!);
    writer.constant(COMMA);
    writer.jsonString(bytes, prevAt, prevEnd);
    writer.constant(COMMA);
    writer.raw(bytes, dataAt, lengths[base + Column.Data]! + dataAt);
    writer.constant(CLOSING);
    return true;
  }

  /** The event's fields, for hashing in Node by the rule of another format (format 1). */
  content(row: number): AuditContent {
    const requestIdAt = this.starts[row * COLUMNS + Column.RequestId]!;
    return {
      seq: this.seq(row),
      at: new Date(this.unixMillis(row)),
      actor: this.text(row, Column.Actor)!,
      action: this.text(row, Column.Action)!,
      requestId: this.lengths[row * COLUMNS + Column.RequestId]! < 0 ? null : uuidText(this.bytes, requestIdAt),
      data: JSON.parse(this.text(row, Column.Data)!) as unknown,
      prevHash: this.text(row, Column.PrevHash)!,
      hashFormat: this.hashFormat(row),
    };
  }

  /**
   * The whole event as pg would give it in text mode (its text columns as UTF-8, the data parsed
   * from jsonb's text, the time to the millisecond), for `latch audit export`.
   */
  event(row: number): ChainedEvent {
    return { ...this.content(row), hash: this.text(row, Column.Hash)! };
  }

  private seq(row: number): bigint {
    return this.bytes.readBigInt64BE(this.starts[row * COLUMNS + Column.Seq]!);
  }

  private latin1(row: number, column: Column): string {
    const start = this.starts[row * COLUMNS + column]!;
    return this.bytes.toString('latin1', start, start + this.lengths[row * COLUMNS + column]!);
  }

  private text(row: number, column: Column): string | null {
    const length = this.lengths[row * COLUMNS + column]!;
    if (length < 0) return null;
    const start = this.starts[row * COLUMNS + column]!;
    return this.bytes.toString('utf8', start, start + length);
  }

  /**
   * The time in milliseconds since 1970, exact for every time within years 1 to 9999: the
   * stored microseconds split in two 32-bit halves, divided by 1000 without passing 2^53.
   * ±infinity comes out far beyond those years.
   */
  private unixMillis(row: number): number {
    const at = this.starts[row * COLUMNS + Column.At]!;
    const high = this.bytes.readInt32BE(at);
    const low = this.bytes.readUInt32BE(at + 4);
    const highThousands = Math.floor(high / 1000);
    const rest = (high - highThousands * 1000) * 0x1_0000_0000 + low;
    return highThousands * 0x1_0000_0000 + Math.floor(rest / 1000) + PG_EPOCH_MICROS_FROM_UNIX / 1000;
  }
}

function uuidText(bytes: Buffer, start: number): string {
  const hex = bytes.toString('hex', start, start + 16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

/**
 * PostgreSQL's binary COPY format, parsed as it streams in: pieces arrive cut anywhere, so the
 * bytes of an event not yet whole wait for the next piece.
 */
export class CopyBinaryParser {
  private pending: Buffer | null = null;
  private headerRead = false;
  private finished = false;
  // Where each column of each event is, reused from piece to piece (a batch is read before the next).
  private starts = new Int32Array(256 * COLUMNS);
  private lengths = new Int32Array(256 * COLUMNS);

  /** The whole events in what has arrived so far; the batch is valid until the next push. */
  push(chunk: Buffer): AuditChainBatch {
    const bytes = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    let at = 0;
    if (!this.headerRead) {
      if (bytes.length < SIGNATURE.length + 8) return this.keep(bytes, 0, 0);
      if (!bytes.subarray(0, SIGNATURE.length).equals(SIGNATURE)) throw new Error('the audit chain COPY did not start with the binary COPY signature');
      at = SIGNATURE.length + 8 + bytes.readUInt32BE(SIGNATURE.length + 4);
      if (bytes.length < at) return this.keep(bytes, 0, 0);
      this.headerRead = true;
    }
    const end = bytes.length;
    let rows = 0;
    rows: while (at + 2 <= end && !this.finished) {
      const fields = (bytes[at]! << 24) >> 16 | bytes[at + 1]!;
      if (fields === -1) {
        this.finished = true;
        at += 2;
        break;
      }
      if (fields !== COLUMNS) throw new Error(`the audit chain COPY sent an event of ${fields} columns, not ${COLUMNS}`);
      if ((rows + 1) * COLUMNS > this.starts.length) this.grow();
      const { starts, lengths } = this;
      let field = at + 2;
      for (let column = rows * COLUMNS, last = column + COLUMNS; column < last; column++) {
        if (field + 4 > end) break rows;
        const length = (bytes[field]! << 24) | (bytes[field + 1]! << 16) | (bytes[field + 2]! << 8) | bytes[field + 3]!;
        field += 4;
        starts[column] = field;
        lengths[column] = length;
        if (length > 0) field += length;
        if (field > end) break rows;
      }
      rows += 1;
      at = field;
    }
    return this.keep(bytes, at, rows);
  }

  /** Throws unless the stream ended where the format says it ends. */
  end(): void {
    if (!this.finished || (this.pending && this.pending.length > 0)) throw new Error('the audit chain COPY ended before its trailer');
  }

  private grow(): void {
    const starts = new Int32Array(this.starts.length * 2);
    const lengths = new Int32Array(this.lengths.length * 2);
    starts.set(this.starts);
    lengths.set(this.lengths);
    this.starts = starts;
    this.lengths = lengths;
  }

  private keep(bytes: Buffer, consumed: number, rows: number): AuditChainBatch {
    this.pending = consumed < bytes.length ? bytes.subarray(consumed) : null;
    return new AuditChainBatch(bytes, this.starts, this.lengths, rows);
  }
}

/**
 * Reads the whole audit chain in sequence order in one binary COPY with plain `pg`, a piece at a
 * time as it streams in (COPY's flow control holds the rest in PostgreSQL: memory stays flat
 * whatever the chain's length). Stop early by returning from the loop; the connection is closed
 * either way.
 */
export async function* readAuditChain(databaseUrl: string): AsyncGenerator<AuditChainBatch> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'latch-audit-verify' });
  await client.connect();
  try {
    yield* copyAuditEvents(client, null);
  } finally {
    await client.end();
  }
}

/**
 * The events of `range` (all of them when null) in sequence order, in one binary COPY on
 * `client`, a piece at a time as it streams in: a piece is parsed only once the last one was
 * consumed, and COPY's flow control holds the rest in PostgreSQL. A caller that stops early
 * leaves the COPY unfinished on `client`, which must then be closed, not reused.
 */
export async function* copyAuditEvents(client: pg.ClientBase, range: SeqRange | null): AsyncGenerator<AuditChainBatch> {
  const stream = client.query(copyTo(chainCopy(range)));
  // Ending the client mid-COPY drops the connection, and the stream hears of it as an error
  // nobody needs (a real failure reaches the loop below first).
  stream.on('error', () => undefined);
  const parser = new CopyBinaryParser();
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    const batch = parser.push(chunk);
    if (batch.length > 0) yield batch;
  }
  parser.end();
}

/** The hash stored for event `seq`, or null when there is none. */
export async function readAuditHash(databaseUrl: string, seq: bigint): Promise<string | null> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'latch-audit-verify' });
  await client.connect();
  try {
    const { rows } = await client.query<{ hash: string }>('SELECT hash FROM audit_events WHERE seq = $1', [seq.toString()]);
    return rows[0]?.hash ?? null;
  } finally {
    await client.end();
  }
}
