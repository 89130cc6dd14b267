import { App, HTTPReceiver } from '@slack/bolt';
import type { Logger } from '../logging/logger.ts';
import { slackLoggerFrom } from '../logging/slack-logger.ts';

export const SLACK_EVENTS_PATH = '/slack/events';

export interface SlackAppOptions {
  botToken: string;
  signingSecret: string;
  /** Base URL of the Web API; Slack's own when absent. Tests point it at a fake. */
  apiUrl?: string | undefined;
  logger: Logger;
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
export function createSlackApp({ botToken, signingSecret, apiUrl, logger }: SlackAppOptions): SlackApp {
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
    clientOptions: apiUrl ? { slackApiUrl: apiUrl } : {},
  });
  return { app, receiver };
}
