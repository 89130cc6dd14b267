import type { AnyMiddlewareArgs, Middleware } from '@slack/bolt';
import type { WebClient } from '@slack/web-api';
import type { Logger } from '../logging/logger.ts';

/** Which Slack workspace Latch is installed in, and which Slack app it is: learned from Slack at start. */
export interface SlackAppIdentity {
  teamId: string;
  appId: string;
}

/** A Web API call made to learn the identity failed; `method` says which, `data.error` Slack's code. */
export class SlackIdentityError extends Error {
  constructor(
    message: string,
    readonly method: 'auth.test' | 'bots.info',
    readonly data?: { error?: string },
  ) {
    super(message);
    this.name = 'SlackIdentityError';
  }
}

/**
 * The bot token's workspace (auth.test's `team_id`) and its app (`app_id` of the bot auth.test
 * names, from bots.info, which needs users:read). Taken from Slack rather than configured, so it
 * cannot disagree with the token.
 */
export async function learnAppIdentity(client: WebClient): Promise<SlackAppIdentity> {
  const auth = await call('auth.test', () => client.auth.test());
  const botId = auth.bot_id;
  if (!auth.team_id || !botId) throw new SlackIdentityError('auth.test named no team or no bot: SLACK_BOT_TOKEN must be a bot token (xoxb-)', 'auth.test');
  const bot = await call('bots.info', () => client.bots.info({ bot: botId }));
  const appId = bot.bot?.app_id;
  if (!appId) throw new SlackIdentityError(`bots.info named no app for the bot ${botId}`, 'bots.info');
  return { teamId: auth.team_id, appId };
}

async function call<T>(method: 'auth.test' | 'bots.info', run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    const data = (error as { data?: { error?: string } }).data;
    if (data?.error) throw new SlackIdentityError(`${method}: ${data.error}`, method, data);
    throw error;
  }
}

interface LooseBody {
  team_id?: unknown;
  api_app_id?: unknown;
  team?: { id?: unknown } | null;
  user?: { id?: unknown; team_id?: unknown } | string;
  user_id?: unknown;
  view?: { app_id?: unknown; app_installed_team_id?: unknown };
}

/**
 * Why a payload is not for this app in this workspace, or null when it is. The workspace is the
 * one Slack delivered it for, read as Bolt reads it: the installing team of a view, then
 * `team_id` (commands, events), then `team.id` (interactions), then the user's team (an org-wide
 * install sends `team: null`). A payload that names no workspace or no app is not taken either:
 * every payload Slack sends through processEvent names both.
 */
export function originProblem(body: unknown, own: SlackAppIdentity): string | null {
  const payload = (body ?? {}) as LooseBody;
  const user = typeof payload.user === 'object' ? payload.user : undefined;
  const team = firstString(payload.view?.app_installed_team_id, payload.team_id, payload.team?.id, user?.team_id);
  if (team === undefined) return 'it names no workspace';
  if (team !== own.teamId) return `it is from another workspace (${team.slice(0, 20)})`;
  const app = firstString(payload.api_app_id);
  if (app === undefined) return 'it names no app';
  if (app !== own.appId) return `it is for another app (${app.slice(0, 20)})`;
  const viewApp = firstString(payload.view?.app_id);
  if (viewApp !== undefined && viewApp !== own.appId) return `its view belongs to another app (${viewApp.slice(0, 20)})`;
  return null;
}

function firstString(...values: unknown[]): string | undefined {
  return values.find((value): value is string => typeof value === 'string' && value !== '');
}

/**
 * Bolt global middleware, first in the chain, over HTTP and Socket Mode alike: a payload from
 * another workspace or for another app is acknowledged (so Slack does not retry it) and goes no
 * further, even when signed with Latch's signing secret (an org-wide install, a misrouted app
 * sharing the endpoint). Until the identity is known, nothing is taken.
 */
export class AppOriginCheck {
  private identity: SlackAppIdentity | null = null;

  constructor(private readonly logger: Logger) {}

  learn(identity: SlackAppIdentity): void {
    this.identity = identity;
  }

  /** Latch's workspace, once learned. */
  get teamId(): string | null {
    return this.identity?.teamId ?? null;
  }

  readonly middleware: Middleware<AnyMiddlewareArgs> = async (args) => {
    const problem = this.identity ? originProblem(args.body, this.identity) : 'Latch does not know its own workspace and app yet';
    if (problem === null) {
      await args.next();
      return;
    }
    const body = args.body as LooseBody;
    const user = typeof body.user === 'object' ? body.user?.id : body.user_id;
    // Who and which ids only: a command's text or a form's values may hold what was typed.
    const type = (args.body as { type?: unknown }).type;
    this.logger.warn(
      { userId: typeof user === 'string' ? user.slice(0, 20) : undefined, type: typeof type === 'string' ? type.slice(0, 40) : undefined },
      `refused a Slack request: ${problem}`,
    );
    const ack = (args as { ack?: () => Promise<void> }).ack;
    if (ack) await ack();
  };
}
