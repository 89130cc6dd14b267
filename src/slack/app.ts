import { App } from '@slack/bolt';
import { WebClientEvent, type FetchFunction, type WebClient } from '@slack/web-api';
import type { Logger } from '../logging/logger.ts';
import { slackLoggerFrom } from '../logging/slack-logger.ts';
import { tracedSlackFetch } from '../observability/slack-api-spans.ts';
import type { SeenSignatures } from './seen-signatures.ts';
import { guardSignedRequests } from './signed-request-guard.ts';
import { createSlackTransport, envelopeLogContext, type SlackTransport } from './slack-transport.ts';
import { slackErrorOf } from './web-api-response.ts';

export { SLACK_EVENTS_PATH } from './slack-transport.ts';
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
  /** An app-level token (xapp-): Slack's events arrive over Socket Mode instead of HTTP. */
  appToken?: string | undefined;
  /** Base URL of the Web API; Slack's own when absent. Tests point it at a fake. */
  apiUrl?: string | undefined;
  logger: Logger;
  metrics?: SlackApiMetrics | undefined;
  /** Where the signatures of the requests taken over HTTP are remembered, against replays. */
  seenSignatures: SeenSignatures;
}

export interface SlackApp {
  app: App;
  /** HTTP (signed requests), or Socket Mode when an app token is given. */
  transport: SlackTransport;
}

/**
 * The Bolt app, over HTTP or Socket Mode (see SlackTransport); the listeners cannot tell which.
 * Initialisation is deferred so start-up can check the bot token (auth.test) and report a refusal
 * in one line instead of an unhandled rejection.
 */
export function createSlackApp({ botToken, signingSecret, appToken, apiUrl, logger, metrics, seenSignatures }: SlackAppOptions): SlackApp {
  const slackLogger = slackLoggerFrom(logger);
  // Bolt builds a client of its own for each listener besides app.client, from the app's client
  // options: only a fetch given there sees every call they make.
  const fetch = tracedSlackFetch(metrics ? observedFetch(globalThis.fetch as FetchFunction, apiUrl ?? SLACK_API_URL, metrics) : (globalThis.fetch as FetchFunction), apiUrl);
  const bare = createSlackTransport({ signingSecret, appToken, apiUrl, fetch, logger: slackLogger });
  // Over HTTP, the body limit, the timestamp's bounds and replays are checked before Bolt reads anything.
  const transport: SlackTransport =
    bare.mode === 'http' ? { ...bare, requestListener: guardSignedRequests(bare.requestListener, { signingSecret, seen: seenSignatures, logger }) } : bare;
  const app = new App({
    receiver: transport.receiver,
    token: botToken,
    logger: slackLogger,
    deferInitialization: true,
    clientOptions: {
      ...(apiUrl ? { slackApiUrl: apiUrl } : {}),
      fetch,
    },
  });
  if (transport.mode === 'socket-mode') app.use(envelopeLogContext);
  return { app, transport };
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
