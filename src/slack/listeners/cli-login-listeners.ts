import type { App, RespondFn } from '@slack/bolt';
import { z } from 'zod';
import { LOGIN_TOKEN_SECONDS } from '../../domain/cli-login.ts';
import { decideCliLogin, findCliLoginToConfirm } from '../../services/cli-logins.ts';
import { cliLoginAnswered, cliLoginPrompt } from '../blocks/cli-login-prompt.ts';
import { CLI_LOGIN_CONFIRM, CLI_LOGIN_REFUSE } from '../blocks/ids.ts';
import { escapeMrkdwn } from '../mrkdwn.ts';
import { runUseCase } from './answers.ts';
import type { ListenerContext } from './listener-context.ts';

/** The word after `/request-access` that starts a login confirmation: `/request-access login BCDF-GHJK`. */
export const LOGIN_WORD = 'login';

const loginClickSchema = z.object({
  user: z.object({ id: z.string().min(1) }),
  actions: z.array(z.object({ value: z.string().regex(/^[0-9a-f-]{36}\|[A-Z]{4}-[A-Z]{4}$/) })).min(1),
});

/**
 * `/request-access login <code>`: shows the person the login their code names and asks them to
 * confirm it (or say it was not them). Nothing changes until they click.
 */
export async function answerLoginCommand(ctx: ListenerContext, userId: string, typed: string, respond: RespondFn): Promise<void> {
  const found = await runUseCase(
    ctx,
    { action: 'cli_login_lookup', user: userId, what: 'look up your login' },
    () => findCliLoginToConfirm(ctx.services, typed),
    async (text) => void (await respond({ response_type: 'ephemeral', text })),
  );
  if (!found) return;
  if (!found.ok) {
    ctx.logger.info({ user: userId }, 'a login code named no waiting login');
    await respond({ response_type: 'ephemeral', text: escapeMrkdwn(found.message) });
    return;
  }
  await respond({ response_type: 'ephemeral', ...cliLoginPrompt(found.login, LOGIN_TOKEN_SECONDS / 3600) });
}

/** "Confirm login" and "It was not me" on that prompt: the use case checks everything again. */
export function registerCliLoginListeners(app: App, ctx: ListenerContext): void {
  for (const [actionId, confirm] of [[CLI_LOGIN_CONFIRM, true], [CLI_LOGIN_REFUSE, false]] as const) {
    app.action(actionId, async ({ ack, body, respond }) => {
      await ack();
      const click = loginClickSchema.safeParse(body);
      if (!click.success) {
        ctx.logger.warn({ issues: click.error.issues }, 'ignored a login click without a login');
        return;
      }
      const [loginId, userCode] = click.data.actions[0]!.value.split('|') as [string, string];
      const userId = click.data.user.id;
      const tell = async (text: string) => void (await respond({ response_type: 'ephemeral', replace_original: true, text }));
      const result = await runUseCase(
        ctx,
        { action: actionId, user: userId, loginId, what: confirm ? 'confirm the login' : 'refuse the login' },
        () => decideCliLogin(ctx.services, { loginId, userCode, slackUserId: userId, confirm }),
        tell,
      );
      if (!result) return;
      if (!result.ok) return tell(escapeMrkdwn(result.message));
      await tell(cliLoginAnswered(result.login, result.confirmed));
    });
  }
}
