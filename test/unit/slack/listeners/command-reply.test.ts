import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../../../src/logging/logger.ts';
import { ANSWER_IN_ACK_WITHIN_MS, CommandReply } from '../../../../src/slack/listeners/command-reply.ts';

const logger = createLogger({ level: 'silent' });
const ANSWER = { response_type: 'ephemeral' as const, text: 'Request sent: you will get a message when it is decided.' };

/** What the command's ack and its response_url were given, in order. */
function recorded() {
  const sent: Array<['ack' | 'respond', unknown]> = [];
  return {
    sent,
    ack: async (body?: unknown) => void sent.push(['ack', body]),
    respond: async (message: unknown) => {
      sent.push(['respond', message]);
      return new Response('ok');
    },
  };
}

afterEach(() => void vi.useRealTimers());

describe('CommandReply (a slash command answered in its ack when in time)', () => {
  it('puts the first answer in the ack, and a later one through response_url', async () => {
    const slack = recorded();
    const reply = new CommandReply(slack.ack, slack.respond, logger);
    await reply.say(ANSWER);
    await reply.say({ response_type: 'ephemeral', text: 'and one more thing' });
    await reply.finish();
    expect(slack.sent).toEqual([['ack', ANSWER], ['respond', { response_type: 'ephemeral', text: 'and one more thing' }]]);
  });

  it('acks empty once the bound has passed, and answers through response_url after', async () => {
    vi.useFakeTimers();
    const slack = recorded();
    const reply = new CommandReply(slack.ack, slack.respond, logger);
    await vi.advanceTimersByTimeAsync(ANSWER_IN_ACK_WITHIN_MS - 1);
    expect(slack.sent).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(slack.sent).toEqual([['ack', undefined]]);
    await reply.say(ANSWER);
    await reply.finish();
    expect(slack.sent).toEqual([['ack', undefined], ['respond', ANSWER]]);
  });

  it('acks empty at once when asked to (a modal to open, or a busy process), and never twice', async () => {
    vi.useFakeTimers();
    const slack = recorded();
    const reply = new CommandReply(slack.ack, slack.respond, logger);
    await reply.acknowledge();
    await reply.say(ANSWER);
    await vi.advanceTimersByTimeAsync(ANSWER_IN_ACK_WITHIN_MS * 2);
    await reply.finish();
    expect(slack.sent).toEqual([['ack', undefined], ['respond', ANSWER]]);
  });

  it('acks empty when the listener said nothing (a malformed command), once however often it finishes', async () => {
    const slack = recorded();
    const reply = new CommandReply(slack.ack, slack.respond, logger);
    await reply.finish();
    await reply.finish();
    expect(slack.sent).toEqual([['ack', undefined]]);
  });
});
