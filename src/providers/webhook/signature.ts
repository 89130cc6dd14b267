import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * How Latch signs a webhook request, and how a receiver checks it. The signed text is
 * `${timestamp}.${rawBody}`: the timestamp is inside the HMAC so a captured request cannot be
 * replayed later with a fresh timestamp, and the raw body (not a re-serialised parse of it) so
 * whitespace and key order cannot make a genuine request fail.
 *
 * `verifyWebhookSignature` uses nothing but `node:crypto`, so a receiver written in TypeScript or
 * JavaScript can copy it as it is (see README.md).
 */

export const TIMESTAMP_HEADER = 'x-latch-timestamp';
export const SIGNATURE_HEADER = 'x-latch-signature';
export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';
/** How far a request's timestamp may be from the receiver's clock, either way. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

/** `v1=<hex HMAC-SHA256(secret, `${timestamp}.${body}`)>`, the value of `x-latch-signature`. */
export function signWebhookBody(secret: string, timestamp: number, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export type WebhookVerification = { ok: true } | { ok: false; reason: string };

export interface WebhookVerificationInput {
  /** The shared secret, exactly as Latch's `secretEnv` variable holds it (UTF-8, not decoded). */
  secret: string;
  /** The request body as received, before any JSON parsing. */
  body: string | Uint8Array;
  /** The `x-latch-timestamp` header. */
  timestamp: string | undefined;
  /** The `x-latch-signature` header; several comma-separated `v1=` values are allowed. */
  signature: string | undefined;
  toleranceSeconds?: number;
  /** The receiver's clock in Unix seconds; defaults to now. */
  nowSeconds?: number;
}

export function verifyWebhookSignature(input: WebhookVerificationInput): WebhookVerification {
  const { secret, body, timestamp, signature } = input;
  if (!secret) return { ok: false, reason: 'no secret configured' };
  if (!timestamp || !/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'missing or malformed x-latch-timestamp' };
  const tolerance = input.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  const now = input.nowSeconds ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - Number(timestamp)) > tolerance) {
    return { ok: false, reason: `x-latch-timestamp is more than ${tolerance} s from this clock (replayed, or a clock is wrong)` };
  }
  if (!signature) return { ok: false, reason: 'missing x-latch-signature' };

  const hmac = createHmac('sha256', secret).update(`${timestamp}.`);
  hmac.update(typeof body === 'string' ? Buffer.from(body, 'utf8') : body);
  const expected = hmac.digest();
  // More than one value lets a sender sign with an old and a new secret while both are in use.
  for (const part of signature.split(',')) {
    const match = /^v1=([0-9a-f]{64})$/i.exec(part.trim());
    if (match && timingSafeEqual(Buffer.from(match[1]!, 'hex'), expected)) return { ok: true };
  }
  return { ok: false, reason: 'x-latch-signature does not match' };
}
