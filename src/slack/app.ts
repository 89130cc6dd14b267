import { App, HTTPReceiver } from '@slack/bolt';
import { WebClientEvent, type FetchFunction, type WebClient } from '@slack/web-api';
import type { Logger } from '../logging/logger.ts';
import { slackLoggerFrom } from '../logging/slack-logger.ts';

export const SLACK_EVENTS_PATH = '/slack/events';
const SLACK_API_URL = 'https://slack.com/api/';

/** Told of every Web API call that fails or is rate limited (the metrics). */
export interface SlackApiMetrics {
  /** `error` is Slack's error code (`channel_not_found`), `http_<status>`, or `request_failed`. */
  slackApiError(method: string, error: string): void;
  /** Slack answered HTTP 429; the client waits Retry-After and tries again. */
  slackRateLimited(method: string): void;
}

export interface SlackAppOptions {
  botToken: string;
  signingSecret: string;
  /** Base URL of the Web API; Slack's own when absent. Tests point it at a fake. */
  apiUrl?: string | undefined;
  logger: Logger;
  metrics?: SlackApiMetrics | undefined;
}

export interface SlackApp {
  app: App;
  receiver: HTTPReceiver;
}

/**
 * The Bolt app over HTTP. Every request to SLACK_EVENTS_PATH is checked against the signing secret
 * (HMAC-SHA256 of `v0:timestamp:body`, at most 5 minutes old) before any listener sees it.
 * Initialisation is deferred so start-up can check the bot token (auth.test) and report a refusal
 * in one line instead of an unhandled rejection.
 */
export function createSlackApp({ botToken, signingSecret, apiUrl, logger, metrics }: SlackAppOptions): SlackApp {
  const slackLogger = slackLoggerFrom(logger);
  const receiver = new HTTPReceiver({
    signingSecret,
    endpoints: SLACK_EVENTS_PATH,
    logger: slackLogger,
  });
  const app = new App({
    receiver,
    token: botToken,
    logger: slackLogger,
    deferInitialization: true,
    clientOptions: {
      ...(apiUrl ? { slackApiUrl: apiUrl } : {}),
      // Bolt builds a client of its own for each listener besides app.client, from these options:
      // only a fetch given here sees every call they make.
      ...(metrics ? { fetch: observedFetch(globalThis.fetch, apiUrl ?? SLACK_API_URL, metrics) } : {}),
    },
  });
  return { app, receiver };
}

/**
 * `fetch`, counting the Web API calls that fail or are rate limited, by method. Each HTTP attempt
 * counts (a call retried after a 429 or a 5xx counts once per attempt). Other URLs (response_url)
 * pass through unobserved: their paths carry tokens, never fit for a label.
 */
export function observedFetch(fetch: FetchFunction, apiUrl: string, metrics: SlackApiMetrics): FetchFunction {
  return async (url, init) => {
    const method = webApiMethodOf(String(url), apiUrl);
    if (!method) return fetch(url, init);
    let response;
    try {
      response = await fetch(url, init);
    } catch (error) {
      metrics.slackApiError(method, 'request_failed');
      throw error;
    }
    if (response.status === 429) metrics.slackRateLimited(method);
    else if (response.status !== 200) metrics.slackApiError(method, `http_${response.status}`);
    else {
      const error = await slackErrorOf(response);
      if (error) metrics.slackApiError(method, error);
    }
    return response;
  };
}

/** Counts the 429s of a client built elsewhere (the fast directory client), by method. */
export function countRateLimits(client: WebClient, metrics: SlackApiMetrics): void {
  client.on(WebClientEvent.RATE_LIMITED, (_retryAfterSeconds: number, { url }: { url: string }) => {
    metrics.slackRateLimited(new URL(url).pathname.split('/').pop() ?? 'other');
  });
}

function webApiMethodOf(url: string, apiUrl: string): string | null {
  const base = apiUrl.endsWith('/') ? apiUrl : `${apiUrl}/`;
  if (!url.startsWith(base)) return null;
  const method = url.slice(base.length).split(/[?#]/)[0]!;
  return /^[a-zA-Z]+(\.[a-zA-Z]+)+$/.test(method) ? method : null;
}

/** Slack answers its errors with HTTP 200 and `{ ok: false, error }`; read from a copy of the body. */
async function slackErrorOf(response: Awaited<ReturnType<FetchFunction>>): Promise<string | null> {
  const copy = (response as Partial<Response>).clone?.();
  if (!copy || !response.headers.get('content-type')?.includes('json')) return null;
  const body = (await copy.json().catch(() => null)) as { ok?: unknown; error?: unknown } | null;
  return body?.ok === false ? (typeof body.error === 'string' ? body.error : 'unknown') : null;
}
