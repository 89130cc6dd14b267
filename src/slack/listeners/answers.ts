import { randomBytes } from 'node:crypto';
import type { WebClient } from '@slack/web-api';
import { inUseCaseSpan } from '../../observability/use-case-span.ts';
import type { Refusal } from '../../services/refusal.ts';
import { tellOnly, type Click } from './clicks.ts';
import type { ListenerContext } from './listener-context.ts';

/** What a listener knows about the Slack request it is answering, for the log. */
export type Asked = Record<string, unknown> & { action: string };

/**
 * A use case's refusal goes in the log with its code and detail (the person is shown only its
 * message): expected, so at info, but countable by code.
 */
export function logRefusal(ctx: ListenerContext, refusal: Refusal, asked: Asked): void {
  ctx.logger.info({ ...asked, code: refusal.code, ...(refusal.detail ? { detail: refusal.detail } : {}) }, 'refused');
}

/**
 * Runs one use case for a listener. When it throws, the person is told it failed and that nothing
 * was changed, with a reference to give whoever runs Latch, and the log gets the error under that
 * reference; `undefined` is returned and the listener answers nothing more.
 *
 * Only for a use case whose every change is one transaction and whose work after the commit does
 * not throw (publishCommitted, the hand-over to the queues): a throw then means the transaction
 * rolled back, so "nothing was changed" is true. Nothing else a listener does (App Home, Slack
 * calls) goes in here.
 */
export async function runUseCase<T>(
  ctx: ListenerContext,
  asked: Asked & { what: string },
  run: () => Promise<T>,
  tell: (message: string) => Promise<void>,
): Promise<T | undefined> {
  try {
    return await inUseCaseSpan(asked, run);
  } catch (error) {
    const reference = randomBytes(4).toString('hex');
    const { what, ...logged } = asked;
    ctx.logger.error({ ...logged, err: error, reference }, 'the use case failed; nothing was changed');
    await tell(nothingChanged(what, reference));
    return undefined;
  }
}

/** Says what failed and that it changed nothing; no error text, which may carry what a person must not see. */
export function nothingChanged(what: string, reference: string): string {
  return `Latch could not ${what} because something went wrong on its side. Nothing was changed. Try again in a minute; if it keeps failing, give whoever runs Latch this reference: ${reference}.`;
}

/** A button's use case, run as runUseCase runs it; a failure is told to the person who clicked. */
export function runForClick<T>(ctx: ListenerContext, client: WebClient, click: Click, asked: { action: string; what: string }, run: () => Promise<T>): Promise<T | undefined> {
  return runUseCase(ctx, { ...clickAsked(click, asked.action), what: asked.what }, run, (text) => tellOnly(client, click, text, ctx));
}

/** Shows a refusal to the person who clicked, and logs it. */
export async function tellRefusal(ctx: ListenerContext, client: WebClient, click: Click, action: string, refusal: Refusal): Promise<void> {
  logRefusal(ctx, refusal, clickAsked(click, action));
  await tellOnly(client, click, refusal.message, ctx);
}

function clickAsked(click: Click, action: string): Asked {
  return { action, accessRequestId: click.requestId, user: click.userId };
}
