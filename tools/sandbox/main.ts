import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startSandbox, type SandboxOptions } from './sandbox.ts';

/**
 * `tsx tools/sandbox/main.ts`: the local Slack sandbox on its own, for a Latch you run yourself with
 * SLACK_API_URL set to the Web API URL this prints and the same bot token and signing secret.
 *
 *   --port 3030 --host 127.0.0.1 --latch-url http://127.0.0.1:3000/slack/events
 *   --people people.json   (optional: { users, channels, usergroups } as in SandboxOptions)
 *   --allowed-host name    (repeatable: another name the page is reached by; others are refused)
 *
 * SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN come from the environment (as Latch reads them), with
 * sandbox defaults when unset. Without --people, a requester, two approvers and a security lead in
 * #access-requests and #security, the approvers also in the user group @db-approvers.
 */

const DEFAULT_PEOPLE: Pick<SandboxOptions, 'users' | 'channels' | 'usergroups'> = {
  users: [
    { id: 'U0REQUESTER', name: 'riley', realName: 'Riley Requester', email: 'riley@example.com', tz: 'Europe/London' },
    { id: 'U0APPROVER1', name: 'avery', realName: 'Avery Approver', email: 'avery@example.com', tz: 'America/New_York' },
    { id: 'U0APPROVER2', name: 'blake', realName: 'Blake Approver', email: 'blake@example.com', tz: 'Europe/Berlin' },
    { id: 'U0SECLEAD', name: 'sam', realName: 'Sam Security', email: 'sam@example.com', tz: 'UTC' },
  ],
  channels: [
    { id: 'C0REQUESTS', name: 'access-requests' },
    { id: 'C0SECURITY', name: 'security' },
  ],
  usergroups: [{ id: 'S0DBAPPROVERS', handle: 'db-approvers', users: ['U0APPROVER1', 'U0APPROVER2'] }],
};

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: process.env.SANDBOX_PORT ?? '3030' },
      host: { type: 'string', default: process.env.SANDBOX_HOST ?? '127.0.0.1' },
      'latch-url': { type: 'string', default: process.env.LATCH_URL ?? 'http://127.0.0.1:3000/slack/events' },
      people: { type: 'string' },
      'allowed-host': { type: 'string', multiple: true, default: [] },
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`--port must be a port number, not ${values.port}`);
  const people = values.people ? (JSON.parse(readFileSync(values.people, 'utf8')) as typeof DEFAULT_PEOPLE) : DEFAULT_PEOPLE;
  const botToken = process.env.SLACK_BOT_TOKEN?.trim() || 'xoxb-0000-0000-latch-sandbox';
  const signingSecret = process.env.SLACK_SIGNING_SECRET?.trim() || 'latch-sandbox-signing-secret';
  const sandbox = await startSandbox({ port, host: values.host, allowedHosts: values['allowed-host'], latchUrl: values['latch-url'], botToken, signingSecret, ...people });
  process.stdout.write(
    `Slack sandbox: ${sandbox.url}\n` +
      `Start Latch with SLACK_API_URL=${sandbox.apiUrl} and the same SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET;\n` +
      `the sandbox sends Slack's requests to ${values['latch-url']}.\n`,
  );
  const stop = () => void sandbox.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`sandbox: ${(error as Error).message}\n`);
  process.exit(1);
});
