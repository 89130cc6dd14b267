import { STATUS_CODES } from 'node:http';
import type { FetchFunction } from '@slack/web-api';
import { Agent } from 'undici';
import { slackErrorIn } from './web-api-response.ts';

/** Told of every Web API call that fails or is rate limited (the metrics). */
export interface SlackApiMetrics {
  /** `error` is Slack's error code (`channel_not_found`), `http_<status>`, or `request_failed`. */
  slackApiError(method: string, error: string): void;
  /** Slack answered HTTP 429; the client waits Retry-After and tries again. */
  slackRateLimited(method: string): void;
}

export const SLACK_API_URL = 'https://slack.com/api/';

type FetchRequestInit = Parameters<FetchFunction>[1];
type FetchResponse = Awaited<ReturnType<FetchFunction>>;

/**
 * One pool of keep-alive connections for every Web API client of the process (Bolt builds a
 * client per listener call, the directories one of their own). undici's request API, beneath
 * Node's fetch, without the WHATWG streams, Request and Response objects fetch builds around it:
 * about a third of fetch's CPU per call (measured with a 1.7 kB answer on loopback).
 */
let pool: Agent | undefined;
/**
 * Connections open at once to one origin; requests beyond wait in the pool's queue. The WebClient's
 * own queue let 100 calls run at once; Latch's client (slack-web-client.ts) has no queue, so a
 * burst of messages is bounded here instead of opening a connection (a TLS handshake) per call.
 */
const MAX_CONNECTIONS_PER_ORIGIN = 100;
const sharedPool = () => (pool ??= new Agent({ keepAliveTimeout: 30_000, connections: MAX_CONNECTIONS_PER_ORIGIN }));

export interface SlackApiFetchOptions {
  /** Base URL of the Web API; Slack's own when absent. */
  apiUrl?: string | undefined;
  /** Counts the calls that fail or are rate limited, by method, when given. */
  metrics?: SlackApiMetrics | undefined;
}

/**
 * The `fetch` Latch's Web API clients use. Every request with a text body (or none) goes through
 * the shared connection pool and its answer is read once, as text, which the client then parses.
 * Web API calls (URLs under `apiUrl`) are counted: failures and 429s from the status and, for
 * Slack's `{ ok: false }` answers, from that text (parsed only when it says `"ok": false`). Each
 * HTTP attempt counts (a call retried after a 429 or a 5xx counts once per attempt). Posts to a
 * response_url take the pool too, unobserved: their paths carry tokens and are never fit for a label.
 *
 * Anything else (file uploads' form bodies) goes to Node's fetch, unobserved, as before.
 */
export function createSlackApiFetch({ apiUrl = SLACK_API_URL, metrics }: SlackApiFetchOptions = {}): FetchFunction {
  const base = apiUrl.endsWith('/') ? apiUrl : `${apiUrl}/`;
  return async (url, init) => {
    if (init?.body !== undefined && typeof init.body !== 'string') return (globalThis.fetch as FetchFunction)(url, init);
    const href = String(url);
    const method = webApiMethodOf(href, base);
    if (!method) return requestThroughPool(href, init);
    let response: BufferedResponse;
    try {
      response = await requestThroughPool(href, init);
    } catch (error) {
      metrics?.slackApiError(method, 'request_failed');
      throw error;
    }
    if (metrics) {
      if (response.status === 429) metrics.slackRateLimited(method);
      else if (response.status !== 200) metrics.slackApiError(method, `http_${response.status}`);
      else if (response.isJson) {
        const error = slackErrorIn(response.bodyText);
        if (error) metrics.slackApiError(method, error);
      }
    }
    return response;
  };
}

async function requestThroughPool(href: string, init: FetchRequestInit | undefined): Promise<BufferedResponse> {
  const target = new URL(href);
  const { statusCode, statusText, headers, body } = await sharedPool().request({
    origin: target.origin,
    path: `${target.pathname}${target.search}`,
    method: (init?.method ?? 'GET') as 'GET',
    headers: init?.headers,
    body: init?.body as string | undefined,
    signal: init?.signal,
  });
  // The client reads every answer whole (its JSON, or an error's text): read it here, once.
  // Redirects are not followed (the Web API client asks fetch to refuse them; Slack's response_urls do not redirect): a 3xx fails as any status but 200 and 429.
  return new BufferedResponse(href, statusCode, statusText || STATUS_CODES[statusCode] || '', headers, Buffer.from(await body.arrayBuffer()));
}

/** An answer read whole: what the Web API client reads of a fetch Response, and no more. */
class BufferedResponse implements FetchResponse {
  readonly headers: { get(name: string): string | null; entries(): Iterable<[string, string]> };

  constructor(
    readonly url: string,
    readonly status: number,
    readonly statusText: string,
    rawHeaders: Record<string, string | string[] | undefined>,
    private readonly body: Buffer,
  ) {
    const flat = new Map<string, string>();
    for (const [name, value] of Object.entries(rawHeaders)) if (value !== undefined) flat.set(name.toLowerCase(), Array.isArray(value) ? value.join(', ') : value);
    this.headers = { get: (name) => flat.get(name.toLowerCase()) ?? null, entries: () => flat.entries() };
  }

  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }

  get isJson(): boolean {
    return this.headers.get('content-type')?.includes('json') ?? false;
  }

  private decoded: string | undefined;

  /** The body as text, decoded once (the metrics may look at it before the client reads it). */
  get bodyText(): string {
    return (this.decoded ??= this.body.toString('utf8'));
  }

  async text(): Promise<string> {
    return this.bodyText;
  }

  async json(): Promise<unknown> {
    return JSON.parse(this.bodyText);
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    return this.body.buffer.slice(this.body.byteOffset, this.body.byteOffset + this.body.byteLength) as ArrayBuffer;
  }
}

/** `chat.postMessage` for a URL under the API's base; null for anything else. */
function webApiMethodOf(url: string, base: string): string | null {
  if (!url.startsWith(base)) return null;
  const method = url.slice(base.length).split(/[?#]/)[0]!;
  return /^[a-zA-Z]+(\.[a-zA-Z]+)+$/.test(method) ? method : null;
}
