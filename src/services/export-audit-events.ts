import type { ChainedEvent } from '../domain/audit-chain.ts';
import type { Database } from '../store/database.ts';

const BATCH = 1_000;

export interface ExportPeriod {
  since?: Date | undefined;
  until?: Date | undefined;
}

/**
 * The audit events of a period, in sequence order, a batch at a time (constant memory for any
 * number of rows). The period picks the first and last sequence numbers whose time falls in it,
 * and everything between them is exported: an unbroken stretch of the chain that can be verified
 * on its own (`latch audit verify --file`), even when writers' clocks put an event a moment out of
 * order.
 */
export async function* auditEventsOf(db: Database, period: ExportPeriod): AsyncGenerator<ChainedEvent[]> {
  const at = { ...(period.since ? { gte: period.since } : {}), ...(period.until ? { lt: period.until } : {}) };
  const bounds = await db.auditEvent.aggregate({ _min: { seq: true }, _max: { seq: true }, where: period.since || period.until ? { at } : {} });
  const first = bounds._min.seq;
  const last = bounds._max.seq;
  if (first === null || last === null) return;
  let after = first - 1n;
  for (;;) {
    const batch = await db.auditEvent.findMany({ where: { seq: { gt: after, lte: last } }, orderBy: { seq: 'asc' }, take: BATCH });
    if (batch.length === 0) return;
    yield batch;
    after = batch.at(-1)!.seq;
    if (after >= last) return;
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
