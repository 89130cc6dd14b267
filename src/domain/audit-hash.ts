import { createHash, hash } from 'node:crypto';
import canonicalize from 'canonicalize';

/**
 * The audit trail is a hash chain: each event's hash covers its own content and the previous
 * event's hash, so altering, removing, inserting or reordering any event breaks every hash after
 * it. Each event records the format its hash was computed in (`hashFormat`), so an event verifies
 * by the rule it was written under, for ever:
 *
 * - 1: SHA-256 of the event's RFC 8785 canonical JSON. Every event written before format 2.
 * - 2: SHA-256 of the event as a JSON array, `["latch-audit-v2", seq, at, actor, action,
 *   requestId, prevHash, data]`, written the way PostgreSQL writes jsonb: `, ` between elements,
 *   `: ` after keys, object keys ordered by their UTF-8 length and then bytewise, numbers in plain
 *   decimal. The database computes it when appending and renders it when verifying, from the
 *   stored row (migration 20261203210000), so verifying a million events costs a SHA-256 each,
 *   not a JSON parse and canonicalisation each; `auditHashInputV2` here is the same rule, for an
 *   export checked without the database.
 *
 * Neither depends on the key order of the data as written or as a database returns it. The tag
 * that opens format 2's input keeps the two formats' inputs apart.
 */
export const GENESIS_HASH = '0'.repeat(64);

export const AUDIT_HASH_FORMATS = [1, 2] as const;
export type AuditHashFormat = (typeof AUDIT_HASH_FORMATS)[number];
/** What Latch writes today. */
export const CURRENT_AUDIT_HASH_FORMAT: AuditHashFormat = 2;

export interface AuditContent {
  seq: bigint;
  at: Date;
  actor: string;
  action: string;
  requestId: string | null;
  data: unknown;
  prevHash: string;
  /** Absent: 1 (an export written before formats were recorded). */
  hashFormat?: number;
}

export function isAuditHashFormat(format: number): format is AuditHashFormat {
  return (AUDIT_HASH_FORMATS as readonly number[]).includes(format);
}

/** The event's hash in its own format; throws on a format this code does not know. */
export function auditHash(event: AuditContent): string {
  const format = event.hashFormat ?? 1;
  if (format === 1) return auditHashV1(event);
  if (format === 2) return sha256Hex(auditHashInputV2(event));
  throw new Error(`unknown audit hash format ${format}`);
}

/** Hex SHA-256 of text (UTF-8) or bytes: one call, no hasher object. */
export function sha256Hex(input: string | Uint8Array): string {
  return hash('sha256', input, 'hex');
}

function auditHashV1(event: AuditContent): string {
  const canonical = canonicalize({
    seq: event.seq.toString(),
    at: event.at.toISOString(),
    actor: event.actor,
    action: event.action,
    requestId: event.requestId,
    data: event.data ?? null,
    prevHash: event.prevHash,
  });
  if (canonical === undefined) throw new Error('audit event content cannot be serialised');
  return createHash('sha256').update(canonical).digest('hex');
}

/** The text format 2 hashes; see the top of this file and latch_audit_hash_input_v2. */
export function auditHashInputV2(event: AuditContent): string {
  return jsonbText(['latch-audit-v2', event.seq.toString(), event.at.toISOString(), event.actor, event.action, event.requestId, event.prevHash, event.data ?? null]);
}

/**
 * A JSON value as PostgreSQL's jsonb output writes it. Strings escape exactly as JSON.stringify
 * escapes them (`"`, `\`, and control characters as \b \f \n \r \t or \u00xx); PostgreSQL text
 * cannot hold the lone surrogates where the two would differ.
 */
function jsonbText(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      return plainDecimal(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map(jsonbText).join(', ')}]`;
      const keys = Object.keys(value).sort(jsonbKeyOrder);
      return `{${keys.map((key) => `${JSON.stringify(key)}: ${jsonbText((value as Record<string, unknown>)[key])}`).join(', ')}}`;
    }
    default:
      throw new Error(`audit event data cannot hold a ${typeof value}`);
  }
}

const ASCII = /^[\x00-\x7f]*$/;

/** jsonb's key order: shorter (in UTF-8 bytes) first, then bytewise. */
function jsonbKeyOrder(a: string, b: string): number {
  // ASCII (nearly every key): one byte a character, and bytewise is the strings' own order.
  if (ASCII.test(a) && ASCII.test(b)) return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  return left.length - right.length || Buffer.compare(left, right);
}

/**
 * A JSON number as jsonb stores it (PostgreSQL's numeric, written without an exponent): the
 * shortest text that reads back as the same double, as JSON.stringify writes it, with any
 * exponent expanded. Every number Latch writes comes from a double, so this is what the database
 * renders for it.
 */
function plainDecimal(value: number): string {
  if (!Number.isFinite(value)) throw new Error('audit event data cannot hold a non-finite number');
  const text = JSON.stringify(value);
  const match = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(text);
  if (!match) return text;
  const [, sign, lead, fraction = '', exponentText] = match;
  const digits = `${lead}${fraction}`;
  const point = 1 + Number(exponentText);
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${'0'.repeat(point - digits.length)}`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}
