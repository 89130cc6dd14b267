import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseForm } from 'node:querystring';
import type { Logger } from '../logging/logger.ts';
import { RefusalLog } from '../logging/refusal-log.ts';
import { markAuthenticated } from './authenticated-requests.ts';
import { readLimitedBody, refuseBody } from './request-body.ts';
import type { SeenSignatures } from './seen-signatures.ts';

/** How old a request's timestamp may be: Slack's own five minutes (Bolt refuses older ones too). */
export const MAX_REQUEST_AGE_SECONDS = 5 * 60;
/** How far ahead of Latch's clock a timestamp may be: clock skew, not a request valid for days. */
export const MAX_FUTURE_SKEW_SECONDS = 60;
/** A signature is accepted while its timestamp is, so it is remembered that long. */
const SEEN_FOR_SECONDS = MAX_REQUEST_AGE_SECONDS + MAX_FUTURE_SKEW_SECONDS;

export interface SignedRequestGuardOptions {
  signingSecret: string;
  seen: SeenSignatures;
  logger: Logger;
  /** Unix milliseconds; the system clock unless a test says otherwise. */
  now?: () => number;
}

/** A request that passed the guard: its bytes as Slack signed them, and its payload, parsed once. */
export interface VerifiedSlackRequest {
  rawBody: Buffer;
  /** What Bolt takes as the body: a form's fields, or the JSON object of a form's `payload` or of a JSON body. */
  payload: Record<string, unknown>;
}

/** Gets each request the guard lets through (the Slack receiver, which hands it to Bolt). */
export type VerifiedRequestHandler = (req: IncomingMessage, res: ServerResponse, verified: VerifiedSlackRequest) => void | Promise<void>;

/**
 * What stands in front of Bolt for Slack's requests over HTTP. It reads the body within its limit
 * (see readLimitedBody), checks the signature, refuses a timestamp over five minutes old or more
 * than a minute ahead, and lets each signature through once: a request replayed with the same
 * signature is answered 200 (Slack, or whoever replays it, has nothing to retry) and not
 * processed. Only then does `next` get the request, with its payload parsed: nothing after the
 * guard reads, verifies or parses the body again.
 */
export function guardSignedRequests(next: VerifiedRequestHandler, options: SignedRequestGuardOptions): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const { logger } = options;
  // Anyone can send this endpoint requests it refuses unread or unverified, as fast as they like:
  // each kind is logged once a minute, with how many more came.
  const refusals = new RefusalLog(logger);
  const now = options.now ?? Date.now;
  // Made once: a string key is converted and copied again for every HMAC otherwise.
  const signingKey = createSecretKey(Buffer.from(options.signingSecret, 'utf8'));
  return async (req, res) => {
    const reading = await readLimitedBody(req);
    if (!reading.ok) {
      refusals.refused(`slack body ${reading.problem}`, { status: reading.status, reason: reading.reason }, `refused a request to the Slack endpoint: ${reading.reason}`);
      refuseBody(req, res, reading.status, `${reading.reason}\n`);
      return;
    }
    const isForm = req.headers['content-type'] === 'application/x-www-form-urlencoded';
    // Parsed once, as Bolt parses a form (node:querystring), before the signature only because
    // Slack's ssl_check is not signed.
    const form = isForm ? parseForm(reading.text) : null;
    if (form?.ssl_check === '1') {
      // Slack's ssl_check carries no payload and is answered unsigned; nothing is processed.
      res.writeHead(200).end();
      return;
    }
    const signature = singleHeader(req, 'x-slack-signature');
    const refusal = signatureProblem(reading.body, signature, singleHeader(req, 'x-slack-request-timestamp'), signingKey, now());
    if (refusal || !signature) {
      // `refusal` is one of signatureProblem's few fixed texts.
      refusals.refused(`slack unverified ${refusal}`, { reason: refusal }, `refused an unverified request to the Slack endpoint: ${refusal}`);
      res.writeHead(401, { 'content-type': 'text/plain' }).end('unauthorized\n');
      return;
    }
    markAuthenticated(req);
    const parsed = payloadOf(req.headers['content-type'], form, reading.text);
    if (!parsed.ok) {
      // Bolt reads the payload's fields without checking it is an object: `null` would throw
      // where nothing catches it, and end the process.
      logger.warn({ reason: parsed.problem }, `refused a malformed Slack request: ${parsed.problem}`);
      res.writeHead(400, { 'content-type': 'text/plain' }).end('bad request\n');
      return;
    }
    let first: boolean;
    try {
      first = await options.seen.firstSight(signature, SEEN_FOR_SECONDS);
    } catch (error) {
      // Without the memory of what was taken, a replay could not be told apart: Slack retries a 503.
      logger.error({ err: error }, 'cannot check a Slack request for replay (Redis): refused with 503');
      res.writeHead(503, { 'content-type': 'text/plain' }).end('unavailable\n');
      return;
    }
    if (!first) {
      // Whoever copied one signed request can send it again for minutes, as fast as they like.
      refusals.refused('slack replayed', { slackRetry: req.headers['x-slack-retry-num'] }, 'ignored a replayed Slack request: its signature was already taken');
      res.writeHead(200).end();
      return;
    }
    await next(req, res, { rawBody: reading.body, payload: parsed.payload });
  };
}

/**
 * Why a signed request is not Slack's, or null when it is: Slack's `v0` scheme, the HMAC-SHA256
 * of `v0:<timestamp>:<body>` with the signing secret, compared in constant time, and the
 * timestamp at most five minutes old (the same checks as Bolt's verifySlackRequest, with one HMAC
 * where its comparison makes three).
 */
function signatureProblem(body: Buffer, signature: string | undefined, timestamp: string | undefined, signingKey: KeyObject, nowMs: number): string | null {
  if (!signature || !timestamp) return 'missing x-slack-signature or x-slack-request-timestamp';
  if (!/^\d{1,12}$/.test(timestamp)) return 'malformed x-slack-request-timestamp';
  const seconds = Number(timestamp);
  if (seconds > nowMs / 1000 + MAX_FUTURE_SKEW_SECONDS) return `timestamp more than ${MAX_FUTURE_SKEW_SECONDS} s in the future`;
  if (seconds < Math.floor(nowMs / 1000) - MAX_REQUEST_AGE_SECONDS) return `timestamp more than ${MAX_REQUEST_AGE_SECONDS / 60} minutes old`;
  if (!signature.startsWith('v0=')) return 'unknown signature version';
  const expected = Buffer.from(`v0=${createHmac('sha256', signingKey).update(`v0:${timestamp}:`).update(body).digest('hex')}`);
  // The header as it is, byte for byte: a signature written another way (upper case, anything
  // appended) is another key for the replay check, so it must not verify.
  const given = Buffer.from(signature);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'signature mismatch';
  return null;
}

function singleHeader(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' ? value : undefined;
}

/**
 * The payload Bolt takes from a verified body, or why there is none: JSON must be an object, and
 * so must a form's `payload` field when it has one (interactions); a form without it is a slash
 * command, whose fields are the payload. Bolt parses the same way (HTTPModuleFunctions).
 */
function payloadOf(
  contentType: string | undefined,
  form: ReturnType<typeof parseForm> | null,
  text: string,
): { ok: true; payload: Record<string, unknown> } | { ok: false; problem: string } {
  if (!form && contentType !== 'application/json') return { ok: false, problem: 'Bolt reads only a bare application/json or application/x-www-form-urlencoded body' };
  if (form && form.payload === undefined) return { ok: true, payload: form };
  const json = form ? form.payload : text;
  if (typeof json !== 'string') return { ok: false, problem: 'its payload is given more than once' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return { ok: false, problem: form ? 'its payload is not JSON' : 'the body is not JSON' };
  }
  return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? { ok: true, payload: parsed as Record<string, unknown> } : { ok: false, problem: 'the payload is not a JSON object' };
}
