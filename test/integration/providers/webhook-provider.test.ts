import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AccessProvider, ProviderGrant, ProviderResult } from '../../../src/providers/provider.ts';
import { signWebhookBody, verifyWebhookSignature } from '../../../src/providers/webhook/signature.ts';
import { createWebhookProvider, webhookProviderFactory } from '../../../src/providers/webhook/webhook-provider.ts';
import { freePort } from '../../helpers/free-port.ts';
import { WebhookReceiver } from '../../helpers/webhook-receiver.ts';

const SECRET = randomBytes(32).toString('hex');
const env = { LATCH_TEST_WEBHOOK_SECRET: SECRET };

describe('webhook provider', () => {
  let receiver: WebhookReceiver;
  /** The waits between attempts the provider asked for; tests do not really wait. */
  let sleeps: number[];
  const fastFactory = webhookProviderFactory({
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  });
  /** Every result a test saw, to check at the end that none of them carries the secret. */
  const results: ProviderResult<unknown>[] = [];

  const providerWith = (settings: Record<string, unknown> = {}, environment: Record<string, string | undefined> = env): AccessProvider => {
    const built = fastFactory({ url: receiver.url, secretEnv: 'LATCH_TEST_WEBHOOK_SECRET', ...settings }, environment);
    if (!built.ok) throw new Error(built.problems.join('\n'));
    const { provider } = built;
    const record =
      <T>(operation: (grant: ProviderGrant) => Promise<ProviderResult<T>>) =>
      async (grant: ProviderGrant) => {
        const result = await operation.call(provider, grant);
        results.push(result);
        return result;
      };
    return { type: provider.type, grant: record(provider.grant), revoke: record(provider.revoke), check: record(provider.check) };
  };
  const grantFor = (overrides: Partial<ProviderGrant> = {}): ProviderGrant => ({
    grantId: randomUUID(),
    requestId: randomUUID(),
    resourceId: 'prod-db',
    role: 'read',
    principal: 'alice',
    expiresAt: new Date('2030-01-02T03:04:05.000Z'),
    ...overrides,
  });

  beforeAll(async () => {
    receiver = await WebhookReceiver.start(SECRET);
  });
  afterAll(async () => {
    await receiver.close();
    for (const result of results) expect(JSON.stringify(result)).not.toContain(SECRET);
  });
  beforeEach(() => {
    receiver.reset();
    sleeps = [];
  });

  describe('the request', () => {
    it('POSTs the documented JSON body with content type, timestamp and idempotency key', async () => {
      const grant = grantFor();
      const before = Math.floor(Date.now() / 1000);
      expect(await providerWith().grant(grant)).toEqual({ ok: true, value: undefined });
      const [call] = receiver.calls;
      expect(call?.body).toEqual({
        action: 'grant',
        grantId: grant.grantId,
        requestId: grant.requestId,
        user: 'alice',
        resource: 'prod-db',
        role: 'read',
        expiresAt: '2030-01-02T03:04:05.000Z',
        sentAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      });
      expect(call?.headers['content-type']).toBe('application/json');
      expect(call?.idempotencyKey).toBe(`grant-${grant.grantId}`);
      const timestamp = Number(call?.headers['x-latch-timestamp']);
      expect(timestamp).toBeGreaterThanOrEqual(before);
      expect(timestamp).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
    });

    it('never sends a scoped grant to a receiver the settings do not say takes scopes: it would grant the whole role', async () => {
      const scoped = grantFor({ scope: { customer: ['4711'] } });
      const refused = await providerWith().grant(scoped);
      expect(refused).toMatchObject({ ok: false, failure: { kind: 'permanent', message: expect.stringContaining('does not take scopes') } });
      expect(receiver.calls).toEqual([]);
      expect(await providerWith({ acceptsScopes: true }).grant(scoped)).toEqual({ ok: true, value: undefined });
      expect(receiver.calls.map((call) => (call.body as { scope?: unknown }).scope)).toEqual([{ customer: ['4711'] }]);
    });

    it('names each operation in the body and in the idempotency key', async () => {
      const provider = providerWith();
      const grant = grantFor();
      await provider.grant(grant);
      await provider.check(grant);
      await provider.revoke(grant);
      expect(receiver.calls.map((call) => [call.action, call.idempotencyKey])).toEqual([
        ['grant', `grant-${grant.grantId}`],
        ['check', `check-${grant.grantId}`],
        ['revoke', `revoke-${grant.grantId}`],
      ]);
    });

    it('lets the receiver apply a repeated grant once', async () => {
      const provider = providerWith();
      const grant = grantFor();
      expect((await provider.grant(grant)).ok).toBe(true);
      expect((await provider.grant(grant)).ok).toBe(true);
      expect(receiver.calls.map((call) => call.replayed)).toEqual([false, true]);
    });
  });

  describe('the signature', () => {
    it('is accepted by the receiver’s own check, and by verifyWebhookSignature', async () => {
      await providerWith().grant(grantFor());
      const [call] = receiver.calls;
      expect(call?.signatureValid).toBe(true);
      expect(call?.headers['x-latch-signature']).toMatch(/^v1=[0-9a-f]{64}$/);
      const verified = verifyWebhookSignature({
        secret: SECRET,
        body: call!.rawBody,
        timestamp: call!.headers['x-latch-timestamp'] as string,
        signature: call!.headers['x-latch-signature'] as string,
      });
      expect(verified).toEqual({ ok: true });
    });

    it('signed with the wrong secret gets 401, a permanent failure, without a retry', async () => {
      const provider = providerWith({ secretEnv: 'OTHER_SECRET' }, { OTHER_SECRET: 'not-the-receivers-secret' });
      const result = await provider.grant(grantFor());
      expect(result).toEqual({ ok: false, failure: { kind: 'permanent', message: expect.stringContaining('HTTP 401') } });
      expect(receiver.calls).toHaveLength(1);
      expect(receiver.calls[0]?.signatureValid).toBe(false);
      expect(JSON.stringify(result)).not.toContain('not-the-receivers-secret');
    });

    it('verifyWebhookSignature refuses a changed body, a wrong signature, an old timestamp and missing headers', () => {
      const body = '{"action":"grant"}';
      const now = 1_800_000_000;
      const signature = signWebhookBody(SECRET, now, body);
      const verify = (changes: Partial<Parameters<typeof verifyWebhookSignature>[0]>) =>
        verifyWebhookSignature({ secret: SECRET, body, timestamp: String(now), signature, nowSeconds: now, ...changes }).ok;
      expect(verify({})).toBe(true);
      expect(verify({ body: Buffer.from(body) })).toBe(true);
      expect(verify({ nowSeconds: now + 299 })).toBe(true);
      expect(verify({ signature: `v1=${'0'.repeat(64)}, ${signature}` })).toBe(true);
      expect(verify({ body: '{"action":"revoke"}' })).toBe(false);
      expect(verify({ secret: 'another-secret' })).toBe(false);
      expect(verify({ signature: `v1=${'0'.repeat(64)}` })).toBe(false);
      expect(verify({ signature: 'v1=abc' })).toBe(false);
      expect(verify({ nowSeconds: now + 301 })).toBe(false);
      expect(verify({ timestamp: String(now + 1) })).toBe(false);
      expect(verify({ timestamp: undefined })).toBe(false);
      expect(verify({ signature: undefined })).toBe(false);
    });
  });

  describe('retries', () => {
    it.each([500, 503])('retries HTTP %i with the same idempotency key, then succeeds', async (status) => {
      receiver.failNext(2, status);
      const grant = grantFor();
      expect(await providerWith().grant(grant)).toEqual({ ok: true, value: undefined });
      expect(receiver.calls.map((call) => call.status)).toEqual([status, status, 200]);
      expect(new Set(receiver.calls.map((call) => call.idempotencyKey))).toEqual(new Set([`grant-${grant.grantId}`]));
      expect(sleeps).toEqual([200, 400]);
      expect(receiver.hasAccess('alice', 'read', 'prod-db')).toBe(true);
    });

    it('retries 408, 425 and 429, and waits as long as a short Retry-After asks', async () => {
      receiver.failNext(1, 408);
      receiver.failNext(1, 425);
      receiver.failNext(1, { status: 429, headers: { 'retry-after': '2' } });
      expect((await providerWith({ maxAttempts: 4 }).revoke(grantFor())).ok).toBe(true);
      expect(receiver.calls.map((call) => call.status)).toEqual([408, 425, 429, 200]);
      expect(sleeps).toEqual([200, 400, 2_000]);
    });

    it('gives up at once, transiently, when Retry-After asks for a long pause', async () => {
      receiver.failNext(1, { status: 429, headers: { 'retry-after': '120' } });
      const result = await providerWith().revoke(grantFor());
      expect(result).toEqual({ ok: false, failure: { kind: 'transient', message: expect.stringContaining('retry after 120 s') } });
      expect(receiver.calls).toHaveLength(1);
    });

    it('stops after maxAttempts in total with a transient failure naming the last status', async () => {
      receiver.failNext(5, { status: 503, body: 'maintenance' });
      const result = await providerWith({ maxAttempts: 3 }).revoke(grantFor());
      expect(result).toEqual({
        ok: false,
        failure: { kind: 'transient', message: expect.stringMatching(/revoke .*failed after 3 attempts: HTTP 503: maintenance$/) },
      });
      expect(receiver.calls).toHaveLength(3);
    });

    it.each([400, 403, 404, 422])('does not retry HTTP %i: a permanent failure at once', async (status) => {
      receiver.failNext(1, { status, body: 'no such user: mallory' });
      const result = await providerWith().grant(grantFor());
      expect(result).toEqual({
        ok: false,
        failure: { kind: 'permanent', message: expect.stringContaining(`HTTP ${status}: no such user: mallory`) },
      });
      expect(receiver.calls).toHaveLength(1);
      expect(sleeps).toEqual([]);
    });

    it('does not follow a redirect', async () => {
      receiver.failNext(1, { status: 302, headers: { location: 'http://127.0.0.1:1/elsewhere' } });
      const result = await providerWith().grant(grantFor());
      expect(result).toEqual({ ok: false, failure: { kind: 'permanent', message: expect.stringContaining('redirect') } });
      expect(receiver.calls).toHaveLength(1);
    });

    it('quotes at most 200 characters of the response, on one line, without control characters', async () => {
      const body = `line one\r\n\u001b[31mred\u0007\u202Eevil\t${'x'.repeat(1_000)}`;
      receiver.failNext(1, { status: 400, body });
      const result = await providerWith().grant(grantFor());
      const message = result.ok ? '' : result.failure.message;
      expect(message).not.toMatch(/[\p{Cc}\p{Cf}]/u);
      expect(message).toContain('HTTP 400: line one [31mred evil xxx');
      const quoted = message.slice(message.indexOf('line one'));
      expect([...quoted].length).toBeLessThanOrEqual(201);
      expect(quoted.endsWith('…')).toBe(true);
    });

    it('retries a receiver that hangs past timeoutMs, then fails transiently', async () => {
      receiver.failNext(3, 'hang');
      const started = Date.now();
      const result = await providerWith({ timeoutMs: 100, maxAttempts: 3 }).revoke(grantFor());
      expect(result).toEqual({
        ok: false,
        failure: { kind: 'transient', message: expect.stringContaining('failed after 3 attempts: no answer within 100 ms') },
      });
      expect(receiver.calls).toHaveLength(3);
      expect(Date.now() - started).toBeLessThan(5_000);
    });

    it('retries after a hang and succeeds when the receiver answers', async () => {
      receiver.failNext(1, 'hang');
      const grant = grantFor();
      expect(await providerWith({ timeoutMs: 100 }).grant(grant)).toEqual({ ok: true, value: undefined });
      expect(receiver.calls.map((call) => call.idempotencyKey)).toEqual([`grant-${grant.grantId}`, `grant-${grant.grantId}`]);
    });

    it('retries a dropped connection', async () => {
      receiver.failNext(1, 'drop');
      expect((await providerWith().grant(grantFor())).ok).toBe(true);
      expect(receiver.calls).toHaveLength(2);
    });

    it('fails transiently when nothing listens at the URL', async () => {
      const port = await freePort();
      const built = fastFactory({ url: `http://127.0.0.1:${port}/hook`, secretEnv: 'LATCH_TEST_WEBHOOK_SECRET', maxAttempts: 2 }, env);
      if (!built.ok) throw new Error(built.problems.join('\n'));
      const result = await built.provider.grant(grantFor());
      results.push(result);
      expect(result).toEqual({
        ok: false,
        failure: { kind: 'transient', message: expect.stringContaining('failed after 2 attempts: could not reach it (ECONNREFUSED)') },
      });
    });
  });

  describe('check', () => {
    it('answers from the receiver’s {"active": boolean}', async () => {
      const provider = providerWith();
      const grant = grantFor();
      expect(await provider.check(grant)).toEqual({ ok: true, value: false });
      await provider.grant(grant);
      expect(await provider.check(grant)).toEqual({ ok: true, value: true });
    });

    it.each([
      ['not JSON', 'OK', /without JSON.*got: OK$/],
      ['an array', '[true]', /wrong JSON.*got: \[true\]$/],
      ['a string for active', '{"active":"yes"}', /wrong JSON/],
      ['no active field', '{"granted":true}', /wrong JSON/],
      ['an empty body', '', /without JSON/],
    ])('fails permanently when the 2xx body is %s', async (_, body, message) => {
      receiver.failNext(1, { status: 200, body });
      const result = await providerWith().check(grantFor());
      expect(result).toEqual({ ok: false, failure: { kind: 'permanent', message: expect.stringMatching(message) } });
      expect(receiver.calls).toHaveLength(1);
    });

    it('ignores the body of a 2xx answer to grant and revoke', async () => {
      receiver.failNext(1, { status: 204 });
      receiver.failNext(1, { status: 200, body: 'not json at all' });
      const provider = providerWith();
      expect(await provider.grant(grantFor())).toEqual({ ok: true, value: undefined });
      expect(await provider.revoke(grantFor())).toEqual({ ok: true, value: undefined });
    });
  });

  describe('factory problems', () => {
    const build = (settings: Record<string, unknown>, environment: Record<string, string | undefined> = env) =>
      createWebhookProvider({ url: 'https://access.example.com/latch', secretEnv: 'LATCH_TEST_WEBHOOK_SECRET', ...settings }, environment);
    const problemsOf = (built: ReturnType<typeof build>) => (built.ok ? [] : built.problems);

    it('builds a provider of type webhook from valid settings, with defaults', () => {
      const built = build({});
      expect(built.ok && built.provider.type).toBe('webhook');
      expect(built.ok && built.provider.list).toBeUndefined();
      expect(build({ url: 'http://localhost:8080/hook', timeoutMs: 100, maxAttempts: 10 }).ok).toBe(true);
    });

    it('names the missing or empty secret variable, without a value', () => {
      expect(problemsOf(build({ secretEnv: 'AWS_WEBHOOK_SECRET' }))).toEqual(['settings.secretEnv: AWS_WEBHOOK_SECRET is not set']);
      expect(problemsOf(build({ secretEnv: 'AWS_WEBHOOK_SECRET' }, { AWS_WEBHOOK_SECRET: '  ' }))).toEqual([
        'settings.secretEnv: AWS_WEBHOOK_SECRET is empty',
      ]);
    });

    it('does not echo a secret pasted into secretEnv', () => {
      const problems = problemsOf(build({ secretEnv: 's3cr3t/value+with=chars' }));
      expect(problems).toEqual([expect.stringMatching(/^settings\.secretEnv: must be the name of an environment variable/)]);
      expect(problems.join()).not.toContain('s3cr3t');
    });

    it.each([
      ['not a URL', 'access.example.com/latch', /^settings\.url: is not a URL/],
      ['another scheme', 'ftp://access.example.com/latch', /^settings\.url: must start with https:\/\/ or http:\/\//],
      ['a number', 42, /^settings\.url: must be the receiver’s URL/],
    ])('refuses a url that is %s', (_, url, problem) => {
      expect(problemsOf(build({ url }))).toEqual([expect.stringMatching(problem)]);
    });

    it('refuses credentials in the url without echoing them', () => {
      const problems = problemsOf(build({ url: 'https://latch:hunter22@access.example.com/latch' }));
      expect(problems).toEqual([expect.stringMatching(/^settings\.url: must not contain a user name or password/)]);
      expect(problems.join()).not.toContain('hunter22');
    });

    it('names unknown settings fields', () => {
      expect(problemsOf(build({ secret: 'oops', retries: 2 }))).toEqual([
        'settings.secret: is not a webhook setting (known: url, secretEnv, timeoutMs, maxAttempts, verifyRevocations, acceptsScopes)',
        'settings.retries: is not a webhook setting (known: url, secretEnv, timeoutMs, maxAttempts, verifyRevocations, acceptsScopes)',
      ]);
    });

    it('names missing fields and out-of-range numbers, one line each', () => {
      expect(problemsOf(createWebhookProvider({}, env))).toEqual(['settings.url: is missing', 'settings.secretEnv: is missing']);
      expect(problemsOf(build({ timeoutMs: 50, maxAttempts: 11 }))).toEqual([
        'settings.timeoutMs: must be at least 100 milliseconds',
        'settings.maxAttempts: must be at most 10 attempts',
      ]);
      expect(problemsOf(build({ timeoutMs: '5s', maxAttempts: 1.5 }))).toEqual([
        'settings.timeoutMs: must be a whole number of milliseconds from 100 to 60000',
        'settings.maxAttempts: must be a whole number of attempts from 1 to 10',
      ]);
    });
  });
});
