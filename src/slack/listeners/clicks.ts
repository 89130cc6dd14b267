import type { WebClient } from '@slack/web-api';
import type { ListenerContext } from './listener-context.ts';
import { buttonClickSchema } from './payloads.ts';

/**
 * A button click on one of Latch's messages, reduced to what handlers may trust: who clicked,
 * where, and the request id the button carried. Everything else is re-read from the database.
 */
export interface Click {
  requestId: string;
  blockId: string | undefined;
  userId: string;
  channelId: string | undefined;
  /** Clicked in the person's App Home, which is then rebuilt to show the result. */
  fromHome: boolean;
}

export function parseClick(body: unknown, ctx: ListenerContext): Click | undefined {
  const parsed = buttonClickSchema.safeParse(body);
  if (!parsed.success) {
    ctx.logger.warn({ issues: parsed.error.issues }, 'ignored a button click without a request id');
    return undefined;
  }
  const action = parsed.data.actions[0]!;
  return { requestId: action.value, blockId: action.block_id, userId: parsed.data.user.id, channelId: parsed.data.channel?.id, fromHome: parsed.data.view?.type === 'home' };
}

/** An ephemeral message: only the person who clicked sees it. */
export async function tellOnly(client: WebClient, click: Click, text: string, ctx: ListenerContext): Promise<void> {
  try {
    // App Home has no channel to show an ephemeral message in: the refusal goes by DM there.
    if (click.fromHome || !click.channelId) await client.chat.postMessage({ channel: click.userId, text });
    else await client.chat.postEphemeral({ channel: click.channelId, user: click.userId, text });
  } catch (error) {
    ctx.logger.warn({ err: error }, 'could not show a refusal to the person who clicked');
  }
}
