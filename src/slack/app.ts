import { App } from '@slack/bolt';
import type { FetchFunction } from '@slack/web-api';
import type { Logger } from '../logging/logger.ts';
import { slackLoggerFrom } from '../logging/slack-logger.ts';
import { tracedSlackFetch } from '../observability/slack-api-spans.ts';
import type { SeenSignatures } from './seen-signatures.ts';
import { createSlackApiFetch, type SlackApiMetrics } from './slack-api-fetch.ts';
import { SlackWebClient } from './slack-web-client.ts';
import { createSlackTransport, envelopeLogContext, type SlackTransport } from './slack-transport.ts';

export { SLACK_EVENTS_PATH } from './slack-transport.ts';
export type { SlackApiMetrics } from './slack-api-fetch.ts';

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
  /** The fetch every Web API client of the app uses (give it to any other client built for Latch). */
  slackFetch: FetchFunction;
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
  const fetch = tracedSlackFetch(createSlackApiFetch({ apiUrl, metrics }), apiUrl);
  // Over HTTP, the body limit, the signature, the timestamp's bounds and replays are checked before Bolt gets anything.
  const transport = createSlackTransport({ signingSecret, appToken, apiUrl, fetch, logger: slackLogger, http: { seenSignatures, logger } });
  const clientOptions = { ...(apiUrl ? { slackApiUrl: apiUrl } : {}), fetch };
  // No conversation store: Latch keeps no state in Bolt's (context.conversation is never read),
  // and Bolt's default in-memory store answers every request without one by making and
  // catching an Error ("Conversation not found"), a stack trace captured per click and command.
  const app = new App({ receiver: transport.receiver, token: botToken, logger: slackLogger, deferInitialization: true, clientOptions, convoStore: false });
  // Latch's own calls (the notifier's messages and updates, App Home) go through app.client: give
  // it the client whose hot methods skip the WebClient's queue and retry wrapper.
  app.client = new SlackWebClient(botToken, { ...clientOptions, logger: slackLogger });
  if (transport.mode === 'socket-mode') app.use(envelopeLogContext);
  return { app, transport, slackFetch: fetch };
}
