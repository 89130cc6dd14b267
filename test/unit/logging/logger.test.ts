import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { withLogContext } from '../../../src/logging/log-context.ts';
import { createLogger } from '../../../src/logging/logger.ts';
import { createSecretScrubber, passwordOf } from '../../../src/logging/secret-scrubber.ts';

const BOT_TOKEN = 'xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUvWx';
const APP_TOKEN = 'xapp-1-A0123-4567-abcdef0123456789';
const SIGNING_SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const DB_PASSWORD = 'pa$$w0rd/with:odd@chars';
const DATABASE_URL = `postgresql://latch:${encodeURIComponent(DB_PASSWORD)}@db.internal:5432/latch`;

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  const logger = createLogger({
    level: 'debug',
    secrets: [BOT_TOKEN, APP_TOKEN, SIGNING_SECRET, passwordOf(DATABASE_URL)],
    destination,
  });
  return { logger, lines, records: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

describe('logger', () => {
  it('writes one JSON object a line with level, time and message', () => {
    const { logger, records } = capture();
    logger.info({ grantId: 'g1' }, 'grant revoked');
    expect(records()).toEqual([
      expect.objectContaining({ level: 'info', name: 'latch', msg: 'grant revoked', grantId: 'g1', time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) }),
    ]);
  });

  it('puts the current request id or job id on every line, nested contexts included', async () => {
    const { logger, records } = capture();
    await withLogContext({ requestId: 'req-1' }, async () => {
      logger.info('received');
      await new Promise((resolve) => setTimeout(resolve, 1));
      await withLogContext({ accessRequestId: 'ar-9' }, async () => logger.info('stored'));
    });
    withLogContext({ jobId: 'revoke-g1' }, () => logger.warn('retrying'));
    logger.info('outside');
    expect(records().map(({ msg, requestId, jobId, accessRequestId }) => ({ msg, requestId, jobId, accessRequestId }))).toEqual([
      { msg: 'received', requestId: 'req-1', jobId: undefined, accessRequestId: undefined },
      { msg: 'stored', requestId: 'req-1', jobId: undefined, accessRequestId: 'ar-9' },
      { msg: 'retrying', requestId: undefined, jobId: 'revoke-g1', accessRequestId: undefined },
      { msg: 'outside', requestId: undefined, jobId: undefined, accessRequestId: undefined },
    ]);
  });

  it('never writes a token, the signing secret or a connection-string password, wherever they appear', () => {
    const { logger, lines } = capture();
    logger.info({ config: { SLACK_BOT_TOKEN: BOT_TOKEN, signingSecret: SIGNING_SECRET } }, 'config loaded');
    logger.info({ headers: { authorization: `Bearer ${BOT_TOKEN}`, 'x-slack-signature': 'v0=abc123' } }, 'outgoing call');
    logger.error({ err: new Error(`connect failed for ${DATABASE_URL}`) }, `cannot reach ${DATABASE_URL}`);
    logger.warn(`socket mode token ${APP_TOKEN} and secret ${SIGNING_SECRET}`);
    logger.info({ nested: { deeper: { list: [`token=${BOT_TOKEN}`] } } }, 'deep');
    const output = lines.join('\n');
    for (const secret of [BOT_TOKEN, APP_TOKEN, SIGNING_SECRET, DB_PASSWORD, encodeURIComponent(DB_PASSWORD), 'v0=abc123']) {
      expect(output).not.toContain(secret);
    }
    expect(output).toContain('[redacted]');
    // What is not secret survives, so the line is still useful.
    expect(output).toContain('db.internal:5432/latch');
    expect(lines).toHaveLength(5);
  });

  it('redacts secrets of known shapes even when nobody registered them', () => {
    const { logger, lines } = capture();
    logger.info('user token xoxp-5555-6666-unregistered and redis://:hunter2@cache:6379');
    expect(lines[0]).not.toMatch(/5555-6666-unregistered|hunter2/);
    expect(lines[0]).toContain('redis://:[redacted]@cache:6379');
  });

  it('respects the level', () => {
    const destination = new Writable({ write: (_c, _e, done) => done() });
    const logger = createLogger({ level: 'warn', destination });
    expect(logger.isLevelEnabled('info')).toBe(false);
    expect(logger.isLevelEnabled('warn')).toBe(true);
  });
});

describe('secret scrubber', () => {
  it('replaces the longest known secret whole when one contains another', () => {
    const scrub = createSecretScrubber(['abcdef', 'abcdef-ghijkl']);
    expect(scrub('x abcdef-ghijkl y abcdef z')).toBe('x [redacted] y [redacted] z');
  });

  it('ignores values too short to be secrets', () => {
    expect(createSecretScrubber(['abc'])('abc is ordinary text')).toBe('abc is ordinary text');
  });

  it('finds the password of a connection string, decoded', () => {
    expect(passwordOf(DATABASE_URL)).toBe(DB_PASSWORD);
    expect(passwordOf('postgresql://latch@db/latch')).toBeUndefined();
    expect(passwordOf('not a url')).toBeUndefined();
  });
});
