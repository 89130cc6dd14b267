import { Readable } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { readLimitedBody } from '../../../src/slack/request-body.ts';

/** A request as node's HTTP server hands it over: headers, and the body as a stream. */
function requestWith(body: Buffer): IncomingMessage {
  return Object.assign(Readable.from([body]), { headers: { 'content-type': 'application/json', 'content-length': String(body.length) } }) as unknown as IncomingMessage;
}

describe('readLimitedBody', () => {
  it('refuses a body that is not UTF-8, and reads the next one whole (one decoder serves every request)', async () => {
    const broken = Buffer.concat([Buffer.from('{"text":"caf'), Buffer.from([0xc3]), Buffer.from('"}')]);
    expect(await readLimitedBody(requestWith(broken))).toEqual({ ok: false, status: 400, problem: 'not_utf8', reason: 'the body is not valid UTF-8' });
    const text = '{"text":"café ✓ 𝄞"}';
    const next = await readLimitedBody(requestWith(Buffer.from(text, 'utf8')));
    expect(next).toMatchObject({ ok: true, text });
  });
});
