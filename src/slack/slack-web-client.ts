import { setTimeout as sleep } from 'node:timers/promises';
import {
  WebAPIHTTPError,
  WebAPIPlatformError,
  WebAPIRateLimitedError,
  WebAPIRequestError,
  WebClient,
  WebClientEvent,
  retryPolicies,
  type FetchFunction,
  type Logger,
  type RetryOptions,
  type WebAPICallResult,
  type WebClientOptions,
} from '@slack/web-api';

/**
 * How a hot method's arguments travel, and whether a call may be made again after an attempt that
 * may have reached Slack (an HTTP error, a dropped connection). JSON where Slack takes it, so the
 * blocks are not percent-encoded; a form for users.info, a read method Slack does not take JSON for.
 */
interface HotMethod {
  body: 'json' | 'form';
  /**
   * Doing it twice is no worse than once (an update, a read). A post is not: after an attempt
   * Slack may have taken, a second would post the message twice; the sweeps post what is missing.
   * `views.open` is not either: its trigger works once.
   */
  repeatable: boolean;
}

const HOT_METHODS: ReadonlyMap<string, HotMethod> = new Map([
  ['chat.postMessage', { body: 'json', repeatable: false }],
  ['chat.postEphemeral', { body: 'json', repeatable: false }],
  ['chat.update', { body: 'json', repeatable: true }],
  ['views.open', { body: 'json', repeatable: false }],
  ['views.update', { body: 'json', repeatable: true }],
  ['views.publish', { body: 'json', repeatable: true }],
  ['users.info', { body: 'form', repeatable: true }],
]);

/** Errors of a connection that never opened: the request did not reach Slack, so trying again is safe. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);

const USER_AGENT = 'Latch (@slack/web-api compatible)';

type CallOptions = Record<string, unknown> & { token?: unknown };

/**
 * Latch's Web API client: @slack/web-api's WebClient, whose hot methods (messages, views,
 * users.info) take a direct road: one request through the client's `fetch` (Latch's pooled one,
 * with its metrics and spans), the answer parsed once, and the same results and errors the
 * WebClient gives (WebAPIPlatformError for `ok: false`, WebAPIHTTPError, WebAPIRequestError,
 * WebAPIRateLimitedError). The WebClient's road costs a promise queue and a retry wrapper per call,
 * and serialises the arguments and the answer once more for debug lines it may never print.
 *
 * Retries follow Slack's rules: a 429 is waited out for its Retry-After, for that method only
 * (Slack's limits are per method), then made again (or refused at once with
 * `rejectRateLimitedCalls`); an HTTP error or a dropped request is made again, with the
 * configured backoff, only for a call that can be repeated (see HotMethod) or that never reached
 * Slack. At most `retryConfig.retries` more attempts, as the WebClient. Every other method (and a
 * call with a token of its own) takes the WebClient's road unchanged.
 */
export class SlackWebClient extends WebClient {
  readonly #token: string | undefined;
  readonly #fetch: FetchFunction;
  readonly #retries: RetryOptions;
  readonly #timeoutMs: number;
  readonly #rejectRateLimitedCalls: boolean;
  readonly #teamId: string | undefined;
  readonly #logger: Logger | undefined;
  /** Per method, when Slack's Retry-After lets it be called again. */
  readonly #pausedUntil = new Map<string, number>();

  constructor(token: string | undefined, options: WebClientOptions = {}) {
    super(token, options);
    this.#token = token;
    this.#fetch = options.fetch ?? (globalThis.fetch as FetchFunction);
    this.#retries = options.retryConfig ?? retryPolicies.tenRetriesInAboutThirtyMinutes;
    this.#timeoutMs = options.timeout ?? 0;
    this.#rejectRateLimitedCalls = options.rejectRateLimitedCalls ?? false;
    this.#teamId = options.teamId;
    this.#logger = options.logger;
  }

  override async apiCall(method: string, options?: Record<string, unknown>): Promise<WebAPICallResult> {
    const hot = HOT_METHODS.get(method);
    if (!hot || !this.#token || !options || typeof options !== 'object' || (options as CallOptions).token !== undefined) return super.apiCall(method, options);
    const url = `${this.slackApiUrl}${method}`;
    const args = this.#teamId === undefined ? options : { team_id: this.#teamId, ...options };
    const init = hot.body === 'json' ? jsonRequest(this.#token, args) : formRequest(this.#token, args);
    for (let attempt = 0; ; attempt++) {
      await this.#rateLimitOf(method);
      const outcome = await this.#attempt(url, init);
      if ('result' in outcome) return this.#resultOf(outcome.result);
      const { failure } = outcome;
      const retryAfter = failure instanceof WebAPIRateLimitedError ? failure.retryAfter : null;
      if (retryAfter !== null) {
        this.emit(WebClientEvent.RATE_LIMITED, retryAfter, { url, body: args });
        if (this.#rejectRateLimitedCalls) throw failure;
        this.#pausedUntil.set(method, Math.max(this.#pausedUntil.get(method) ?? 0, Date.now() + retryAfter * 1000));
      }
      const again = retryAfter !== null || hot.repeatable || neverSent(failure);
      if (!again || attempt >= (this.#retries.retries ?? 10)) throw failure;
      if (retryAfter === null) await sleep(backoffMs(this.#retries, attempt));
      else this.#logger?.info(`API Call failed due to rate limiting. Will retry in ${retryAfter} seconds.`);
    }
  }

  /** One HTTP attempt: Slack's answer, or the error that ended it. */
  async #attempt(url: string, init: { headers: Record<string, string>; body: string }): Promise<{ result: WebAPICallResult } | { failure: Error }> {
    let response: Awaited<ReturnType<FetchFunction>>;
    try {
      response = await this.#fetch(url, {
        method: 'POST',
        headers: init.headers,
        body: init.body,
        redirect: 'error',
        signal: this.#timeoutMs > 0 ? AbortSignal.timeout(this.#timeoutMs) : undefined,
      });
    } catch (error) {
      const original = error instanceof Error ? error : new Error(String(error));
      this.#logger?.warn('http request failed', original.message);
      return { failure: new WebAPIRequestError(original) };
    }
    if (response.status === 429) {
      const retryAfter = retryAfterOf(response);
      if (retryAfter === undefined) {
        await response.text().catch(() => undefined);
        throw new Error(`Retry header did not contain a valid timeout (url: ${url}, retry-after header: ${response.headers.get('retry-after')})`);
      }
      await response.text().catch(() => undefined);
      return { failure: new WebAPIRateLimitedError(retryAfter) };
    }
    // Slack's Web API uses no status but 200 and 429 for its answers.
    if (response.status !== 200) {
      const body = await response.text();
      return { failure: new WebAPIHTTPError(response.status, response.statusText, Object.fromEntries(response.headers.entries()), body) };
    }
    const text = await response.text();
    let result: WebAPICallResult;
    try {
      result = JSON.parse(text) as WebAPICallResult;
    } catch {
      result = { ok: false, error: text } as WebAPICallResult;
    }
    result.response_metadata ??= {};
    const scopes = response.headers.get('x-oauth-scopes');
    if (scopes !== null) result.response_metadata.scopes = scopes.trim().split(/\s*,\s*/);
    const accepted = response.headers.get('x-accepted-oauth-scopes');
    if (accepted !== null) result.response_metadata.acceptedScopes = accepted.trim().split(/\s*,\s*/);
    return { result };
  }

  /** The call's result, or Slack's `ok: false` as the WebClient throws it; Slack's warnings logged as the WebClient logs them. */
  #resultOf(result: WebAPICallResult): WebAPICallResult {
    for (const warning of result.response_metadata?.warnings ?? []) this.#logger?.warn(warning);
    for (const message of result.response_metadata?.messages ?? []) {
      const error = /\[ERROR\](.*)/.exec(message);
      const warning = /\[WARN\](.*)/.exec(message);
      if (error) this.#logger?.error(error[1]!.trim());
      else if (warning) this.#logger?.warn(warning[1]!.trim());
    }
    if (!result.ok) throw new WebAPIPlatformError(result as WebAPICallResult & { error: string });
    return result;
  }

  /** Waits while Slack's Retry-After for this method runs. */
  async #rateLimitOf(method: string): Promise<void> {
    const until = this.#pausedUntil.get(method);
    if (until === undefined) return;
    const waitMs = until - Date.now();
    if (waitMs > 0) await sleep(waitMs);
    else this.#pausedUntil.delete(method);
  }
}

function jsonRequest(token: string, args: Record<string, unknown>) {
  return {
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json; charset=utf-8', Accept: 'application/json', 'User-Agent': USER_AGENT },
    body: JSON.stringify(args),
  };
}

/** Form fields as the WebClient encodes them: objects as JSON text, absent values left out. */
function formRequest(token: string, args: Record<string, unknown>) {
  const form = new URLSearchParams();
  for (const [key, value] of Object.entries(args)) {
    if (value === undefined || value === null) continue;
    form.append(key, typeof value === 'object' ? JSON.stringify(value) : String(value));
  }
  return {
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json', 'User-Agent': USER_AGENT },
    body: form.toString(),
  };
}

function retryAfterOf(response: Awaited<ReturnType<FetchFunction>>): number | undefined {
  const header = response.headers.get('retry-after');
  const seconds = header === null ? Number.NaN : Number.parseInt(header, 10);
  return Number.isNaN(seconds) ? undefined : seconds;
}

function neverSent(failure: Error): boolean {
  if (!(failure instanceof WebAPIRequestError)) return false;
  const cause = failure.original as Error & { code?: unknown; cause?: { code?: unknown } };
  const code = cause.code ?? cause.cause?.code;
  return typeof code === 'string' && NOT_SENT.has(code);
}

/** The retry module's backoff (p-retry's, under the WebClient): minTimeout × factor^attempt, randomised × 1–2 when asked. */
function backoffMs({ factor = 2, minTimeout = 1000, maxTimeout = Number.POSITIVE_INFINITY, randomize = false }: RetryOptions, attempt: number): number {
  const random = randomize ? Math.random() + 1 : 1;
  return Math.min(Math.round(random * Math.max(minTimeout, 1) * factor ** attempt), maxTimeout);
}
