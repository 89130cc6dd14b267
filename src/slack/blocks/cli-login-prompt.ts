import type { WaitingCliLogin } from '../../services/cli-logins.ts';
import { escapeMrkdwn, slackDate } from '../mrkdwn.ts';
import { CLI_LOGIN_CONFIRM, CLI_LOGIN_REFUSE } from './ids.ts';
import type { SlackMessage } from './slack-message.ts';

/** What a confirmation acts on: the login and the code the person typed, in one button value. */
export function cliLoginButtonValue(login: WaitingCliLogin): string {
  return `${login.loginId}|${login.userCode}`;
}

/**
 * Asks the person who typed a login code whether the terminal is theirs, before it may act as
 * them: where it asked from, what it could do, and for how long. Shown to them alone (ephemeral).
 * The terminal's name is its own word, escaped and labelled as such.
 */
export function cliLoginPrompt(login: WaitingCliLogin, tokenHours: number): SlackMessage {
  const value = cliLoginButtonValue(login);
  const text =
    `A terminal asks to use Latch as you: code *${login.userCode}*, from address \`${escapeMrkdwn(login.clientAddress)}\`, calling itself \`${escapeMrkdwn(login.clientName)}\`, started ${slackDate(login.startedAt, '{time}')}.\n` +
    `Confirm only if you just ran \`latch login\` there yourself. For ${tokenHours} hours it could ask for access as you, read and release your requests, and fetch the credentials of your granted access. ` +
    'It can never approve anything. If someone sent you this code, choose *It was not me*.';
  return {
    text: `Log in the Latch CLI as you? Code ${login.userCode}`,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text } },
      {
        type: 'actions',
        block_id: 'latch_cli_login_actions',
        elements: [
          { type: 'button', action_id: CLI_LOGIN_CONFIRM, style: 'primary', text: { type: 'plain_text', text: 'Confirm login' }, value },
          { type: 'button', action_id: CLI_LOGIN_REFUSE, style: 'danger', text: { type: 'plain_text', text: 'It was not me' }, value },
        ],
      },
    ],
  };
}

/** What replaces the prompt once the person answered. */
export function cliLoginAnswered(login: WaitingCliLogin, confirmed: boolean): string {
  return confirmed
    ? `✅ Login ${login.userCode} confirmed: the terminal \`${escapeMrkdwn(login.clientName)}\` now acts as you in Latch. \`latch logout\` there ends it.`
    : `🛑 Login ${login.userCode} refused: that terminal gets nothing, and the refusal is in the audit trail. If someone asked you to type the code, tell your security team.`;
}
