/**
 * The ack-latency baseline: a Bolt app over HTTP (HTTPReceiver, the receiver Latch uses, same
 * signing secret and path, the same fake Slack) whose listeners only ack. Whatever Latch takes beyond this is Latch's.
 * Started by the benchmark as a process of its own; says on IPC when it listens.
 */
import { App, HTTPReceiver, LogLevel } from '@slack/bolt';

const port = Number(process.env.PORT);
const receiver = new HTTPReceiver({ signingSecret: process.env.SLACK_SIGNING_SECRET!, endpoints: '/slack/events' });
// Bolt checks the token with auth.test, against the same fake Slack as Latch.
const app = new App({ receiver, token: process.env.SLACK_BOT_TOKEN!, logLevel: LogLevel.ERROR, clientOptions: { slackApiUrl: process.env.SLACK_API_URL! } });
app.command('/request-access', async ({ ack }) => ack());
app.action('latch_approve', async ({ ack }) => ack());
await app.start(port);
process.on('disconnect', () => process.exit(0));
process.send!({ type: 'ready', port });
