/**
 * The tests' fake Slack Web API (tools/sandbox/fake-slack.ts), in a process of its own so that
 * neither the load generator nor Latch shares an event loop with it. Over IPC it says where it
 * listens, counts the calls it got by method, and tells when the `chat.update` of a given
 * message arrives (how the decisions benchmark knows a decision reached Slack).
 *
 * Calls are drained from the fake's record every second so a long run does not hold them all.
 */
import { FakeSlack } from '../tools/sandbox/fake-slack.ts';

type Request = { type: 'counts' } | { type: 'watch-update'; ts: string };

const fake = await FakeSlack.start({ botToken: process.env.BENCH_BOT_TOKEN! });
const counts: Record<string, number> = {};
const updatedAt = new Map<string, number>();

const drain = () => {
  for (const call of fake.calls.splice(0)) {
    counts[call.method] = (counts[call.method] ?? 0) + 1;
    if (call.method === 'chat.update') updatedAt.set(String(call.args.ts), call.at.getTime());
  }
};
setInterval(drain, 1_000).unref();

process.on('message', (message: Request) => {
  if (message.type === 'counts') {
    drain();
    process.send!({ type: 'counts', counts });
  } else if (message.type === 'watch-update') {
    const seen = updatedAt.get(message.ts);
    if (seen !== undefined) {
      process.send!({ type: 'updated', ts: message.ts, at: seen });
      return;
    }
    // Not drained yet, or still to come: the fake looks in its record and then waits.
    fake.waitForCall('chat.update', (call) => call.args.ts === message.ts, 600_000).then(
      (call) => process.send!({ type: 'updated', ts: message.ts, at: call.at.getTime() }),
      () => process.send!({ type: 'updated', ts: message.ts, at: Number.NaN }),
    );
  }
});
process.on('disconnect', () => process.exit(0));
process.send!({ type: 'ready', apiUrl: fake.apiUrl, responseUrlBase: fake.responseUrl('') });
