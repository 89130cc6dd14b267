import type { ChainedEvent } from '../domain/audit-chain.ts';
import { copyAuditEvents } from '../store/audit-chain-reader.ts';
import type { Database } from '../store/database.ts';

/** How much of the export is written out at a time. */
const PIECE_BYTES = 65_536;

export interface ExportPeriod {
  since?: Date | undefined;
  until?: Date | undefined;
}

/**
 * The audit events of a period, in sequence order, a piece of the stream at a time (constant
 * memory for any number of rows). The period picks the first and last sequence numbers whose time
 * falls in it, and everything between them is exported: an unbroken stretch of the chain that can
 * be verified on its own (`latch audit verify --file`), even when writers' clocks put an event a
 * moment out of order.
 *
 * Read in one binary COPY (the reader `latch audit verify` uses), each event rendered on its own
 * into a 64 KiB Buffer that is written out when full, so what lives on V8's heap at any moment is
 * one event and its line. What grew before was not data kept (the heap in use stayed about
 * 15 MiB): rows read in batches of 1,000, and any text built up a batch at a time, were alive
 * across young-generation collections, and V8 grows its young generation each time as many bytes
 * have survived as it holds, up to its maximum (2 × 64 MiB on a large machine), so peak memory
 * grew with the length of the run: 110 MiB at 100,000 events, 238 MiB at 1,000,000. Rendered into
 * a Buffer (outside V8's heap), almost nothing survives: 97 and 96 MiB.
 */
export async function* auditExportBytes(db: Pick<Database, 'pool'>, period: ExportPeriod, render: (event: ChainedEvent) => string): AsyncGenerator<{ bytes: Buffer; events: number }> {
  const { rows: [bounds] } = await db.pool.query<{ first: string | null; last: string | null }>(
    'SELECT min(seq) AS first, max(seq) AS last FROM audit_events WHERE ($1::timestamptz IS NULL OR at >= $1) AND ($2::timestamptz IS NULL OR at < $2)',
    [period.since ?? null, period.until ?? null],
  );
  if (!bounds?.first || !bounds.last) return;
  const client = await db.pool.connect();
  let finished = false;
  try {
    let piece = Buffer.allocUnsafe(PIECE_BYTES);
    let used = 0;
    let events = 0;
    for await (const batch of copyAuditEvents(client, { first: BigInt(bounds.first), last: BigInt(bounds.last) })) {
      for (let row = 0; row < batch.length; row++) {
        const text = render(batch.event(row));
        // UTF-8 takes at most 3 bytes for each UTF-16 unit of a string.
        if (used > 0 && used + text.length * 3 > PIECE_BYTES) {
          yield { bytes: piece.subarray(0, used), events };
          piece = Buffer.allocUnsafe(PIECE_BYTES);
          used = 0;
          events = 0;
        }
        if (text.length * 3 > PIECE_BYTES) {
          // An event larger than a piece (a huge data field) goes out alone.
          yield { bytes: Buffer.from(text), events: 1 };
          continue;
        }
        used += piece.write(text, used);
        events += 1;
      }
    }
    if (events > 0) yield { bytes: piece.subarray(0, used), events };
    finished = true;
  } finally {
    // A COPY left unfinished (the caller stopped, or writing failed) leaves the connection
    // mid-stream: it is closed, not given back to the pool.
    client.release(finished ? undefined : true);
  }
}

/**
 * One event as a JSON line; `seq` is a string, since JSON numbers cannot hold every bigint.
 * `hashFormat` says how its hash is computed (src/domain/audit-hash.ts); lines without it, from
 * before formats were recorded, are format 1.
 */
export function jsonLine(event: ChainedEvent): string {
  return `${JSON.stringify({ seq: event.seq.toString(), at: event.at.toISOString(), actor: event.actor, action: event.action, requestId: event.requestId, data: event.data, prevHash: event.prevHash, hash: event.hash, hashFormat: event.hashFormat ?? 1 })}\n`;
}

/** The inverse of `jsonLine`, for verifying an export; throws on a line that is not an event. */
export function parseJsonLine(line: string): ChainedEvent {
  const value = JSON.parse(line) as Record<string, unknown>;
  const text = (key: string) => {
    if (typeof value[key] !== 'string') throw new Error(`"${key}" is missing or not text`);
    return value[key] as string;
  };
  const at = new Date(text('at'));
  if (Number.isNaN(at.getTime())) throw new Error('"at" is not a time');
  const requestId = value.requestId;
  if (requestId !== null && typeof requestId !== 'string') throw new Error('"requestId" is not text or null');
  const hashFormat = value.hashFormat ?? 1;
  if (typeof hashFormat !== 'number' || !Number.isInteger(hashFormat)) throw new Error('"hashFormat" is not a whole number');
  return { seq: BigInt(text('seq')), at, actor: text('actor'), action: text('action'), requestId, data: value.data ?? null, prevHash: text('prevHash'), hash: text('hash'), hashFormat };
}

export const CSV_HEADER = 'seq,at,actor,action,request_id,data,prev_hash,hash,hash_format\n';

/** RFC 4180: every field quoted, quotes doubled; `data` is its JSON text. */
export function csvRow(event: ChainedEvent): string {
  const fields = [event.seq.toString(), event.at.toISOString(), event.actor, event.action, event.requestId ?? '', JSON.stringify(event.data ?? null), event.prevHash, event.hash, String(event.hashFormat ?? 1)];
  return `${fields.map((field) => `"${field.replaceAll('"', '""')}"`).join(',')}\n`;
}
