import type { IncomingMessage, ServerResponse } from 'node:http';
import { verifySlackRequest } from '@slack/bolt';
import type { Logger } from '../logging/logger.ts';
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

type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/**
 * What stands in front of Bolt's receiver for Slack's requests over HTTP. It reads the body
 * within its limit (see readLimitedBody), checks the signature, refuses a timestamp over five
 * minutes old or more than a minute ahead, and lets each signature through once: a request
 * replayed with the same signature is answered 200 (Slack, or whoever replays it, has nothing to
 * retry) and not processed. Only then does Bolt get the request, its body already read.
 */
export function guardSignedRequests(bolt: Handler, options: SignedRequestGuardOptions): Handler {
  const { logger } = options;
  const now = options.now ?? Date.now;
  return async (req, res) => {
    const reading = await readLimitedBody(req);
    if (!reading.ok) {
      logger.warn({ status: reading.status, reason: reading.reason }, `refused a request to the Slack endpoint: ${reading.reason}`);
      refuseBody(req, res, reading.status, `${reading.reason}\n`);
      return;
    }
    if (isSslCheck(req, reading.text)) {
      // Slack's ssl_check carries no payload; Bolt answers it unsigned too, and processes nothing.
      res.writeHead(200).end();
      return;
    }
    const signature = singleHeader(req, 'x-slack-signature');
    const refusal = signatureProblem(reading.text, signature, singleHeader(req, 'x-slack-request-timestamp'), options.signingSecret, now());
    if (refusal || !signature) {
      logger.warn({ reason: refusal }, `refused an unverified request to the Slack endpoint: ${refusal}`);
      res.writeHead(401, { 'content-type': 'text/plain' }).end('unauthorized\n');
      return;
    }
    const malformed = payloadProblem(req.headers['content-type'], reading.text);
    if (malformed) {
      // Bolt reads the payload's fields without checking it is an object: `null` would throw
      // where nothing catches it, and end the process.
      logger.warn({ reason: malformed }, `refused a malformed Slack request: ${malformed}`);
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
      logger.warn({ slackRetry: req.headers['x-slack-retry-num'] }, 'ignored a replayed Slack request: its signature was already taken');
      res.writeHead(200).end();
      return;
    }
    (req as IncomingMessage & { rawBody?: Buffer }).rawBody = reading.body;
    await bolt(req, res);
  };
}

/** Why a signed request is not Slack's, or null when it is. */
function signatureProblem(body: string, signature: string | undefined, timestamp: string | undefined, signingSecret: string, nowMs: number): string | null {
  if (!signature || !timestamp) return 'missing x-slack-signature or x-slack-request-timestamp';
  if (!/^\d{1,12}$/.test(timestamp)) return 'malformed x-slack-request-timestamp';
  const seconds = Number(timestamp);
  if (seconds > nowMs / 1000 + MAX_FUTURE_SKEW_SECONDS) return `timestamp more than ${MAX_FUTURE_SKEW_SECONDS} s in the future`;
  try {
    // Constant-time comparison, and the five-minute bound on the timestamp's age.
    verifySlackRequest({ signingSecret, body, headers: { 'x-slack-signature': signature, 'x-slack-request-timestamp': seconds }, nowMilliseconds: nowMs });
  } catch (error) {
    return (error as Error).message.replace(/^Failed to verify authenticity: /, '');
  }
  return null;
}

function singleHeader(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' ? value : undefined;
}

function isSslCheck(req: IncomingMessage, text: string): boolean {
  return req.headers['content-type'] === 'application/x-www-form-urlencoded' && new URLSearchParams(text).get('ssl_check') === '1';
}

/**
 * Why a verified body is not a payload Bolt can take, or null: JSON must be an object, and so must
 * a form's `payload` field when it has one (interactions); a form without it is a slash command.
 */
function payloadProblem(contentType: string | undefined, text: string): string | null {
  const isForm = contentType === 'application/x-www-form-urlencoded';
  if (!isForm && contentType !== 'application/json') return 'Bolt reads only a bare application/json or application/x-www-form-urlencoded body';
  const json = isForm ? new URLSearchParams(text).get('payload') : text;
  if (json === null) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return isForm ? 'its payload is not JSON' : 'the body is not JSON';
  }
  return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? null : 'the payload is not a JSON object';
}
