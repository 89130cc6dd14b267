import type { ChainedEvent } from '../domain/audit-chain.ts';
import type { Database } from '../store/database.ts';

const BATCH = 1_000;

export interface ExportPeriod {
  since?: Date | undefined;
  until?: Date | undefined;
}

/** An audit_events row as pg gives it: int8 as text (every bigint fits), jsonb parsed, timestamptz a Date. */
interface AuditEventRow {
  seq: string;
  at: Date;
  actor: string;
  action: string;
  request_id: string | null;
  data: unknown;
  prev_hash: string;
  hash: string;
  hash_format: number;
}

const EVENTS_AFTER = `
  SELECT seq, at, actor, action, request_id, data, prev_hash, hash, hash_format
  FROM audit_events WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT ${BATCH}`;

/**
 * The audit events of a period, in sequence order, a batch at a time (constant memory for any
 * number of rows). The period picks the first and last sequence numbers whose time falls in it,
 * and everything between them is exported: an unbroken stretch of the chain that can be verified
 * on its own (`latch audit verify --file`), even when writers' clocks put an event a moment out of
 * order.
 *
 * Read in plain SQL on the pool, not through Prisma: the ORM's objects for each row of a batch
 * lived long enough to be promoted to V8's old generation, where they piled up between full
 * collections, so the export's peak memory grew with the number of events (164 MiB at 30,000,
 * 293 MiB at 300,000); and a command that never queries through Prisma never loads its engine.
 */
export async function* auditEventsOf(db: Pick<Database, 'pool'>, period: ExportPeriod): AsyncGenerator<ChainedEvent[]> {
  const { rows: [bounds] } = await db.pool.query<{ first: string | null; last: string | null }>(
    'SELECT min(seq) AS first, max(seq) AS last FROM audit_events WHERE ($1::timestamptz IS NULL OR at >= $1) AND ($2::timestamptz IS NULL OR at < $2)',
    [period.since ?? null, period.until ?? null],
  );
  if (!bounds?.first || !bounds.last) return;
  let after = (BigInt(bounds.first) - 1n).toString();
  for (;;) {
    const { rows } = await db.pool.query<AuditEventRow>(EVENTS_AFTER, [after, bounds.last]);
    if (rows.length === 0) return;
    yield rows.map(chainedEvent);
    after = rows.at(-1)!.seq;
    if (after === bounds.last) return;
  }
}

function chainedEvent(row: AuditEventRow): ChainedEvent {
  return { seq: BigInt(row.seq), at: row.at, actor: row.actor, action: row.action, requestId: row.request_id, data: row.data, prevHash: row.prev_hash, hash: row.hash, hashFormat: row.hash_format };
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
