import type { App } from '@slack/bolt';
import { reviewBreakGlass } from '../../services/review-break-glass.ts';
import { REVIEW_BREAK_GLASS } from '../blocks/ids.ts';
import { parseClick, tellOnly } from './clicks.ts';
import { evidenceOf } from './evidence.ts';
import type { ListenerContext } from './listener-context.ts';

/** "Mark reviewed" on a break-glass alert: the use case decides who may, and records it once. */
export function registerBreakGlassListeners(app: App, ctx: ListenerContext): void {
  app.action(REVIEW_BREAK_GLASS, async ({ ack, body, client, context }) => {
    await ack();
    const click = parseClick(body, ctx);
    if (!click) return;
    const result = await reviewBreakGlass(ctx.services, { requestId: click.requestId, userId: click.userId, evidence: evidenceOf(context) });
    if (!result.ok) await tellOnly(client, click, result.message, ctx);
  });
}
