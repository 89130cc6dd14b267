import type { App } from '@slack/bolt';
import { reviewBreakGlass } from '../../services/review-break-glass.ts';
import { REVIEW_BREAK_GLASS } from '../blocks/ids.ts';
import { runForClick, tellRefusal } from './answers.ts';
import { parseClick } from './clicks.ts';
import { evidenceOf } from './evidence.ts';
import type { ListenerContext } from './listener-context.ts';

/** "Mark reviewed" on a break-glass alert: the use case decides who may, and records it once. */
export function registerBreakGlassListeners(app: App, ctx: ListenerContext): void {
  app.action(REVIEW_BREAK_GLASS, async ({ ack, body, client, context }) => {
    await ack();
    const click = parseClick(body, ctx);
    if (!click) return;
    const result = await runForClick(ctx, client, click, { action: REVIEW_BREAK_GLASS, what: 'record your review' }, () =>
      reviewBreakGlass(ctx.services, { requestId: click.requestId, userId: click.userId, evidence: evidenceOf(context) }),
    );
    if (result && !result.ok) await tellRefusal(ctx, client, click, REVIEW_BREAK_GLASS, result.refusal);
  });
}
