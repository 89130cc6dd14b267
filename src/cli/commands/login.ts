import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { CliError, EXIT } from '../cli-error.ts';
import { LatchApiClient, latchUrl } from '../latch-api-client.ts';
import { readStoredLogin, removeStoredLogin, storedLoginPath, writeStoredLogin } from '../stored-login.ts';
import { REQUEST_EXIT } from './request.ts';

/**
 * `latch login`: a person's terminal gets a token acting as them, confirmed in Slack (see
 * src/services/cli-logins.ts). It prints the command to type in Slack, polls until the person
 * confirms, refuses or lets it expire, and stores the token for `latch request`, `latch
 * credentials` and `latch release` (stored-login.ts). The token is never printed.
 */
export async function loginCommand(source: NodeJS.ProcessEnv = process.env, pause: (ms: number) => Promise<unknown> = sleep): Promise<void> {
  const url = latchUrl.safeParse(source.LATCH_URL);
  if (!url.success) throw new CliError(source.LATCH_URL ? `LATCH_URL ${url.error.issues[0]?.message}` : 'LATCH_URL is missing: set it to the address of Latch, e.g. https://latch.example.com', EXIT.config);
  const client = LatchApiClient.anonymous(url.data, pause);
  const started = await client.startLogin(hostname());
  if (!started.ok) throw new CliError(`Latch would not start a login: ${started.problem.detail}`, started.status === 429 ? EXIT.unavailable : EXIT.failure);
  const { deviceCode, userCode, slackCommand, expiresAt, interval } = started.value;
  process.stderr.write(`To log in, type this in Slack before ${new Date(expiresAt).toLocaleTimeString()}, and confirm:\n\n    ${slackCommand}\n\nWaiting for you to confirm code ${userCode}…\n`);
  for (;;) {
    await pause(interval * 1000);
    const answer = await client.collectLogin(deviceCode);
    if (answer.ok) {
      const path = writeStoredLogin({ url: url.data, token: answer.value.access_token, user: answer.value.user, expiresAt: answer.value.expires_at }, source);
      process.stderr.write(`latch: logged in to ${url.data} as Slack user ${answer.value.user} until ${answer.value.expires_at} (token kept in ${path}; \`latch logout\` ends it)\n`);
      return;
    }
    switch (answer.problem.code) {
      case 'authorization_pending':
        continue;
      case 'access_denied':
        throw new CliError(answer.problem.detail, REQUEST_EXIT.denied);
      case 'expired_token':
        throw new CliError(answer.problem.detail, REQUEST_EXIT.expired);
      default:
        throw new CliError(answer.problem.detail, EXIT.failure);
    }
  }
}

/** `latch logout`: Latch refuses the stored token from now on, and the file is removed. */
export async function logoutCommand(source: NodeJS.ProcessEnv = process.env): Promise<void> {
  const login = readStoredLogin(source);
  if (!login) {
    process.stderr.write(`latch: not logged in (no login in ${storedLoginPath(source)})\n`);
    return;
  }
  const ended = await LatchApiClient.withToken(login.url, login.token).logout();
  removeStoredLogin(source);
  process.stderr.write(ended ? `latch: logged out of ${login.url}\n` : `latch: the login to ${login.url} had already ended; removed it\n`);
}
