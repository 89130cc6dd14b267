import type { Readable } from 'node:stream';
import { request } from 'undici';
import { z } from 'zod';
import {
  ok,
  permanent,
  transient,
  type AccessProvider,
  type ProviderFactory,
  type ProviderGrant,
  type ProviderResult,
  type RevocationCheck,
} from '../provider.ts';
import { parseProviderSettings } from '../settings-problems.ts';
import { webhookSettingsSchema } from './settings.ts';
import { IDEMPOTENCY_KEY_HEADER, SIGNATURE_HEADER, signWebhookBody, TIMESTAMP_HEADER } from './signature.ts';

/**
 * Grants and revokes by POSTing a signed JSON request to a receiver someone else runs (the
 * protocol is in README.md). Latch cannot see the target behind the receiver, so the receiver's
 * answer is the truth: 2xx means done, and `check` asks it again.
 *
 * Within one operation, failures that may pass (timeouts, refused connections, 408, 425, 429,
 * 5xx) are retried a few times with a short backoff; the job layer retries a transient result
 * later with its own, longer backoff. Every retry carries the same `idempotency-key`.
 */

export type WebhookAction = 'grant' | 'revoke' | 'check';

export interface WebhookProviderOptions {
  url: URL;
  /** The signing secret's value. Kept private: never logged, never part of a result. */
  secret: string;
  timeoutMs: number;
  maxAttempts: number;
  /** settings.verifyRevocations: the receiver's `check` answers truthfully, so revocations are verified by it. */
  verifyRevocations?: boolean;
  /** settings.acceptsScopes: the receiver grants only the scope a grant carries. */
  acceptsScopes?: boolean;
}

/** What tests replace: the clock and the wait between attempts. */
export interface WebhookProviderDeps {
  sleep?: (ms: number) => Promise<void>;
  now?: () => Date;
}

const FIRST_RETRY_DELAY_MS = 200;
const MAX_RETRY_DELAY_MS = 5_000;
/** Characters of a receiver's response body quoted in a failure message. */
const MAX_QUOTED_BODY = 200;
/** Bytes read from an error response (enough to quote) and from a check answer. */
const MAX_ERROR_BODY_BYTES = 4_096;
const MAX_CHECK_BODY_BYTES = 65_536;

const checkAnswerSchema = z.object({ active: z.boolean() });

type Attempt =
  | { outcome: 'done'; body: string }
  | { outcome: 'retry'; reason: string; retryAfterMs?: number }
  | { outcome: 'refused'; reason: string };

export class WebhookProvider implements AccessProvider {
  readonly type = 'webhook';
  readonly #secret: string;
  readonly #url: URL;
  readonly #target: string;
  readonly #timeoutMs: number;
  readonly #maxAttempts: number;
  readonly #verifyRevocations: boolean;
  readonly #acceptsScopes: boolean;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #now: () => Date;

  constructor(options: WebhookProviderOptions, deps: WebhookProviderDeps = {}) {
    this.#secret = options.secret;
    this.#url = options.url;
    // The query string may hold a receiver's access key (some function hosts work that way).
    this.#target = `${options.url.origin}${options.url.pathname}`;
    this.#timeoutMs = options.timeoutMs;
    this.#maxAttempts = options.maxAttempts;
    this.#verifyRevocations = options.verifyRevocations === true;
    this.#acceptsScopes = options.acceptsScopes === true;
    this.#sleep = deps.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.#now = deps.now ?? (() => new Date());
  }

  /** A scope is the receiver's to grant: Latch can only say whether the receiver takes scopes at all. */
  async checkScope(): Promise<ProviderResult> {
    if (this.#acceptsScopes) return ok();
    return { ok: false, failure: { kind: 'permanent', message: 'its webhook receiver does not take scopes (the policy does not set acceptsScopes), so only the whole role could be granted' } };
  }

  async grant(grant: ProviderGrant): Promise<ProviderResult> {
    // Asked again here, not only when the request was made: the settings may have changed since,
    // and a receiver that does not read the scope would grant the whole role.
    if (grant.scope && !this.#acceptsScopes) return this.checkScope();
    const sent = await this.#send('grant', grant);
    return sent.ok ? ok() : sent;
  }

  async revoke(grant: ProviderGrant): Promise<ProviderResult> {
    const sent = await this.#send('revoke', grant);
    return sent.ok ? ok() : sent;
  }

  async check(grant: ProviderGrant): Promise<ProviderResult<boolean>> {
    const sent = await this.#send('check', grant);
    if (!sent.ok) return sent;
    let json: unknown;
    try {
      json = JSON.parse(sent.value);
    } catch {
      return permanent(`webhook check at ${this.#target} answered 2xx without JSON; expected {"active": true|false}, got: ${this.#quote(sent.value)}`);
    }
    const answer = checkAnswerSchema.safeParse(json);
    if (!answer.success) {
      return permanent(`webhook check at ${this.#target} answered 2xx with the wrong JSON; expected {"active": true|false}, got: ${this.#quote(sent.value)}`);
    }
    return ok(answer.data.active);
  }

  /**
   * After a revocation: asks the receiver (`check`) when the settings say it answers truthfully;
   * otherwise null, as the receiver's word on the revocation is all Latch has.
   */
  async verifyRevoked(grant: ProviderGrant): Promise<ProviderResult<RevocationCheck | null>> {
    if (!this.#verifyRevocations) return ok(null);
    const active = await this.check(grant);
    if (!active.ok) return active;
    return ok(active.value ? { gone: false, remains: `the receiver at ${this.#target} answers check with {"active": true}` } : { gone: true });
  }

  /** Sends one operation, retrying what may pass; the value is the 2xx response's body. */
  async #send(action: WebhookAction, grant: ProviderGrant): Promise<ProviderResult<string>> {
    const idempotencyKey = `${action}-${grant.grantId}`;
    let last = '';
    for (let attempt = 1; attempt <= this.#maxAttempts; attempt++) {
      const result = await this.#attempt(action, grant, idempotencyKey);
      if (result.outcome === 'done') return ok(result.body);
      if (result.outcome === 'refused') return permanent(`webhook ${action} refused by ${this.#target}: ${result.reason}`);
      last = result.reason;
      if (attempt === this.#maxAttempts) break;
      const backoff = Math.min(FIRST_RETRY_DELAY_MS * 2 ** (attempt - 1), MAX_RETRY_DELAY_MS);
      if (result.retryAfterMs !== undefined && result.retryAfterMs > MAX_RETRY_DELAY_MS) {
        // The receiver asked for a longer pause than is worth holding a job for: the job
        // layer's own backoff will try again later.
        return transient(`webhook ${action} at ${this.#target} failed: ${last}; it asked to retry after ${Math.ceil(result.retryAfterMs / 1000)} s`);
      }
      await this.#sleep(Math.max(backoff, result.retryAfterMs ?? 0));
    }
    const tries = this.#maxAttempts === 1 ? '1 attempt' : `${this.#maxAttempts} attempts`;
    return transient(`webhook ${action} at ${this.#target} failed after ${tries}: ${last}`);
  }

  async #attempt(action: WebhookAction, grant: ProviderGrant, idempotencyKey: string): Promise<Attempt> {
    // A fresh timestamp (and signature) each attempt, so a retry after a pause is not taken
    // for a replay; the idempotency key stays the same.
    const now = this.#now();
    const timestamp = Math.floor(now.getTime() / 1000);
    const body = JSON.stringify({
      action,
      grantId: grant.grantId,
      requestId: grant.requestId,
      user: grant.principal,
      resource: grant.resourceId,
      role: grant.role,
      expiresAt: grant.expiresAt.toISOString(),
      // Only for a scoped grant, so that every other body stays as receivers know it.
      ...(grant.scope ? { scope: grant.scope } : {}),
      sentAt: now.toISOString(),
    });
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.#timeoutMs);
    try {
      // undici's request API (beneath Node's fetch) on its own keep-alive pool: the grant job's
      // provider call without fetch's Request, Response and WHATWG streams around it. It follows
      // no redirect: one would re-send the signed request somewhere the policy does not name.
      const response = await request(this.#url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'latch-webhook-provider',
          [TIMESTAMP_HEADER]: String(timestamp),
          [SIGNATURE_HEADER]: signWebhookBody(this.#secret, timestamp, body),
          [IDEMPOTENCY_KEY_HEADER]: idempotencyKey,
        },
        body,
        signal: controller.signal,
      });
      const status = response.statusCode;
      if (status >= 200 && status < 300) {
        if (action !== 'check') {
          await response.body.dump().catch(() => undefined);
          return { outcome: 'done', body: '' };
        }
        return { outcome: 'done', body: await readText(response.body, MAX_CHECK_BODY_BYTES) };
      }
      const said = this.#quote(await readText(response.body, MAX_ERROR_BODY_BYTES));
      const reason = `HTTP ${status}${said ? `: ${said}` : ''}`;
      if (isRetryableStatus(status)) return { outcome: 'retry', reason, retryAfterMs: retryAfterMs(headerOf(response.headers['retry-after']), now) };
      if (status >= 300 && status < 400) {
        return { outcome: 'refused', reason: `HTTP ${status} redirect, which is not followed: set the provider’s url to the final address` };
      }
      return { outcome: 'refused', reason };
    } catch (error) {
      if (controller.signal.aborted) return { outcome: 'retry', reason: `no answer within ${this.#timeoutMs} ms` };
      return { outcome: 'retry', reason: `could not reach it (${this.#quote(networkErrorCode(error))})` };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Receiver-supplied text made safe for one line in Slack and a log: no control characters, short, no secret. */
  #quote(text: string): string {
    const oneLine = text
      .split(this.#secret)
      .join('[redacted]')
      // C0/C1 controls, and the invisible format characters (bidi overrides, zero-width) that can disguise text.
      .replace(/[\p{Cc}\p{Cf}\u2028\u2029]+/gu, ' ')
      .replace(/\s+/g, ' ')
      .trim();
    const chars = [...oneLine];
    return chars.length > MAX_QUOTED_BODY ? `${chars.slice(0, MAX_QUOTED_BODY).join('')}…` : oneLine;
  }
}

export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || (status >= 500 && status <= 599);
}

/** `Retry-After` as milliseconds from now: delta seconds or an HTTP date. */
function retryAfterMs(header: string | null, now: Date): number | undefined {
  if (!header) return undefined;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now.getTime());
}

/** Reads at most `limit` bytes of a body, and drops the rest unread. */
async function readText(body: Readable, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.byteLength;
    if (size >= limit) break;
  }
  // Leaving the loop early destroys the stream: the rest is dropped unread.
  return new TextDecoder().decode(Buffer.concat(chunks).subarray(0, limit));
}

function headerOf(value: string | string[] | undefined): string | null {
  return (Array.isArray(value) ? value[0] : value) ?? null;
}

/** `ECONNREFUSED`, `ENOTFOUND`, `UND_ERR_SOCKET`, … from undici's error (or, from fetch, its cause). */
function networkErrorCode(error: unknown): string {
  const own = (error as { code?: unknown } | null)?.code;
  if (typeof own === 'string') return own;
  const cause = error instanceof Error ? (error.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  if (typeof cause?.code === 'string') return cause.code;
  if (typeof cause?.message === 'string') return cause.message;
  return error instanceof Error ? error.message : String(error);
}

/** A factory whose providers use `deps` (tests shorten the waits); the policy uses `createWebhookProvider`. */
export function webhookProviderFactory(deps: WebhookProviderDeps = {}): ProviderFactory {
  return (settings, env) => {
    const parsed = parseProviderSettings(webhookSettingsSchema, settings, 'webhook');
    if (!parsed.ok) return parsed;
    const { url, secretEnv, timeoutMs, maxAttempts, verifyRevocations, acceptsScopes } = parsed.settings;
    const secret = env[secretEnv];
    if (secret === undefined) return { ok: false, problems: [`settings.secretEnv: ${secretEnv} is not set`] };
    if (secret.trim() === '') return { ok: false, problems: [`settings.secretEnv: ${secretEnv} is empty`] };
    return { ok: true, provider: new WebhookProvider({ url: new URL(url), secret, timeoutMs, maxAttempts, verifyRevocations, acceptsScopes }, deps) };
  };
}

export const createWebhookProvider: ProviderFactory = webhookProviderFactory();
