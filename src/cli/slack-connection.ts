import { SlackConnectionError, type SlackTransport } from '../slack/slack-transport.ts';
import { CliError, EXIT } from './cli-error.ts';

/**
 * Opens the Slack transport's connection (Socket Mode; nothing to do over HTTP) before the
 * process reports itself started: a refused app token stops start-up with one line saying why.
 */
export async function connectSlack(transport: SlackTransport): Promise<void> {
  try {
    await transport.connect();
  } catch (error) {
    if (error instanceof SlackConnectionError) throw new CliError(error.message, error.reason === 'refused' ? EXIT.config : EXIT.unavailable);
    throw error;
  }
}
