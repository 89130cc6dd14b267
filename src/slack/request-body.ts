import type { IncomingMessage, ServerResponse } from 'node:http';
import getRawBody from 'raw-body';

/**
 * The largest body Latch reads from Slack: 1 MiB. Slack's biggest payloads are interactions that
 * carry a whole view: a click on the App Home or a modal's submission sends the view back, at most
 * 100 blocks whose texts Latch caps at 3,000 characters (src/slack/blocks), about 300 kB of JSON,
 * then form-encoded, which grows punctuation threefold. Latch's own views stay far below that; a
 * body past 1 MiB is not Slack's. Bolt's own default is 4 MB.
 */
export const MAX_SLACK_BODY_BYTES = 1024 * 1024;

/** Decodes a whole body at once (never a stream), so one decoder serves every request. */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** The only encodings Slack posts: forms (commands, interactions) and JSON (events). */
const SLACK_CONTENT_TYPES = new Set(['application/x-www-form-urlencoded', 'application/json']);

/** Why a body was refused, as one of a few fixed names (the reason's text may hold what was sent). */
export type BodyProblem = 'encoded' | 'media_type' | 'malformed_length' | 'announced_too_large' | 'too_large' | 'unreadable' | 'not_utf8';

export type BodyReading = { ok: true; body: Buffer; text: string } | { ok: false; status: 400 | 413 | 415; problem: BodyProblem; reason: string };

/**
 * Reads a request's body, refusing before buffering it what Latch would not use anyway: a
 * Content-Length over `limit` is refused without reading a byte, a body sent without one (chunked)
 * is dropped as soon as it passes `limit`, and a compressed body or one that is neither a form nor
 * JSON is refused unread. The text must be valid UTF-8, as all Slack sends is.
 */
export async function readLimitedBody(req: IncomingMessage, limit = MAX_SLACK_BODY_BYTES): Promise<BodyReading> {
  const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (encoding !== 'identity') return { ok: false, status: 415, problem: 'encoded', reason: `content-encoding ${encoding.slice(0, 40)} is not accepted` };
  const mediaType = (req.headers['content-type'] ?? '').split(';', 1)[0]!.trim().toLowerCase();
  if (!SLACK_CONTENT_TYPES.has(mediaType)) return { ok: false, status: 415, problem: 'media_type', reason: 'the body is neither a form nor JSON' };
  const declared = req.headers['content-length'];
  if (declared !== undefined && !/^\d+$/.test(declared)) return { ok: false, status: 400, problem: 'malformed_length', reason: 'malformed content-length' };
  const length = declared === undefined ? null : Number(declared);
  if (length !== null && length > limit) return { ok: false, status: 413, problem: 'announced_too_large', reason: `content-length ${length} is over the limit of ${limit} bytes` };
  let body: Buffer;
  try {
    body = await getRawBody(req, { limit, length });
  } catch (error) {
    const tooLarge = (error as { type?: string }).type === 'entity.too.large';
    return tooLarge
      ? { ok: false, status: 413, problem: 'too_large', reason: `the body passed the limit of ${limit} bytes` }
      : { ok: false, status: 400, problem: 'unreadable', reason: `the body could not be read: ${(error as Error).message}` };
  }
  try {
    return { ok: true, body, text: UTF8.decode(body) };
  } catch {
    return { ok: false, status: 400, problem: 'not_utf8', reason: 'the body is not valid UTF-8' };
  }
}

/** After refusing a body, how long and how much of the rest of it is read and dropped before the connection is closed. */
const LINGER_MS = 2_000;
const LINGER_BYTES = MAX_SLACK_BODY_BYTES;

/**
 * Answers a refused body, then stops reading it, but does not close the connection at once: a
 * socket closed while the client is still sending is reset (RST), and a reset can destroy the
 * answer before the client reads it. What still arrives is dropped for a moment (at most LINGER_MS
 * and LINGER_BYTES, as web servers' "lingering close" does), then the socket is closed; a body
 * that ends within that leaves the connection as it was.
 */
export function refuseBody(req: IncomingMessage, res: ServerResponse, status: number, text: string): void {
  const socket = req.socket;
  let dropped = 0;
  const close = () => socket.destroy();
  const timer = setTimeout(close, LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  req.once('end', () => clearTimeout(timer));
  req.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > LINGER_BYTES) close();
  });
  req.resume();
  res.writeHead(status, { 'content-type': 'text/plain' }).end(text);
}
