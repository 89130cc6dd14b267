import type { types } from '@slack/bolt';

/**
 * A message as chat.postMessage and chat.update take it: Block Kit for people, and `text` for
 * notifications and clients that cannot show blocks.
 */
export interface SlackMessage {
  text: string;
  blocks: types.KnownBlock[];
}
