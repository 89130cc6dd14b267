import { parseDuration } from './duration.ts';
import { sameScope } from './scope-rules.ts';

/**
 * `Idempotency-Key` on a machine's request for access: a pipeline step retried after a timeout or
 * a lost answer sends the same key, and gets the request the first attempt made instead of a
 * second one for the approvers to decide. Keys are the caller's own: stored under the requester,
 * another machine's identical key is a different key.
 */

/** Long enough for a UUID or `${run id}-${attempt}-${step}`, short enough to index. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 200;

export type IdempotencyKeyResult = { ok: true; key: string } | { ok: false; message: string };

/** The header's value as a key, or why it is not one: printable ASCII, 1 to 200 characters. */
export function parseIdempotencyKey(header: string): IdempotencyKeyResult {
  if (header.length === 0) return { ok: false, message: 'The Idempotency-Key header is empty: send a key, such as a UUID, or leave the header out.' };
  if (header.length > MAX_IDEMPOTENCY_KEY_LENGTH) return { ok: false, message: `The Idempotency-Key is ${header.length} characters long: keep it to ${MAX_IDEMPOTENCY_KEY_LENGTH}.` };
  // Printable ASCII only: a key is logged and compared byte for byte, and must read the same everywhere.
  if (!/^[\x20-\x7e]+$/.test(header)) return { ok: false, message: 'The Idempotency-Key may hold only printable ASCII characters (letters, digits, punctuation, spaces).' };
  return { ok: true, key: header };
}

/**
 * The request's submission key for a requester's idempotency key: one requester's keys never meet
 * another's. The requester id's length leads, so no key can be chosen to read as another
 * requester's (`machine:a` + `b:k` against `machine:a:b` + `k`).
 */
export function idempotencySubmissionKey(requesterId: string, key: string): string {
  return `api:${requesterId.length}:${requesterId}:${key}`;
}

/** What a request stored, as far as asking again must match it. */
export interface AskedRequest {
  resourceId: string;
  role: string;
  durationSeconds: number;
  reason: string;
  ticket: string | null;
  /** The scope as stored: trimmed and deduplicated. */
  scope?: Readonly<Record<string, readonly string[]>> | null;
}

/**
 * What a request asked for, from its row and the audit events written with it. The row's role and
 * duration may have changed since: an approver may narrow both (`request.changed`), and an
 * on-call rule cuts the duration at the end of the approver's shift. `request.created` keeps the
 * role asked for, and the on-call approval's `request.approved` the seconds asked for
 * (`askedSeconds`); `request.created`'s own seconds are the cut ones then. Where an event does not
 * say, the row does: a retry is then compared with the access as it stands, and at worst refused.
 */
export function askedRequestOf(stored: AskedRequest, events: { created: unknown; approved: unknown }): AskedRequest {
  const created = fieldsOf(events.created);
  const approved = fieldsOf(events.approved);
  const seconds = [approved.askedSeconds, created.durationSeconds].find((value): value is number => Number.isSafeInteger(value));
  return { ...stored, role: typeof created.role === 'string' ? created.role : stored.role, durationSeconds: seconds ?? stored.durationSeconds };
}

function fieldsOf(data: unknown): Record<string, unknown> {
  return typeof data === 'object' && data !== null && !Array.isArray(data) ? (data as Record<string, unknown>) : {};
}

/** What a body asks for, as the API received it. */
export interface AskedBody {
  resource: string;
  role: string;
  duration: string;
  reason: string;
  ticket?: string | undefined;
  scope?: Readonly<Record<string, readonly string[]>> | null | undefined;
}

/**
 * Whether a body asks for the same thing as the request an earlier call with the same key made
 * (askedRequestOf: what it asked, not what it was cut or narrowed to), compared as it was stored
 * (the reason and ticket trimmed, the duration in seconds): `15m` and `900s` ask the same.
 * Anything else is a different request reusing a key by mistake.
 */
export function asksTheSame(stored: AskedRequest, body: AskedBody, minimumDurationSeconds?: number): boolean {
  const duration = parseDuration(body.duration, minimumDurationSeconds);
  return (
    stored.resourceId === body.resource &&
    stored.role === body.role &&
    duration.ok &&
    duration.seconds === stored.durationSeconds &&
    stored.reason === body.reason.trim() &&
    stored.ticket === (body.ticket?.trim() || null) &&
    sameAskedScope(stored.scope ?? null, body.scope ?? null)
  );
}

/** A scope as stored against one as a body gave it (untrimmed, perhaps with duplicates and empty parameters). */
export function sameAskedScope(stored: Readonly<Record<string, readonly string[]>> | null, asked: Readonly<Record<string, readonly string[]>> | null): boolean {
  const cleaned = Object.fromEntries(Object.entries(asked ?? {}).map(([name, values]) => [name, [...new Set(values.map((value) => value.trim()).filter((value) => value !== ''))]]));
  return sameScope(stored, cleaned);
}
