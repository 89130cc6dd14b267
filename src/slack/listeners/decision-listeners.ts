import type { App } from '@slack/bolt';
import { endAccessEarly } from '../../services/end-access-early.ts';
import { cancelRequest } from '../../services/cancel-request.ts';
import { checkDecider, decideRequest } from '../../services/decide-request.ts';
import { approveBundle } from '../../services/approve-bundle.ts';
import type { Refusal } from '../../services/refusal.ts';
import { escapeMrkdwn } from '../mrkdwn.ts';
import { APPROVE, APPROVE_ALL, revisionsOfBundleBlock, CANCEL, DENY, END_ACCESS, DENY_MODAL, DENY_REASON_BLOCK, revisionOfApprovalBlock } from '../blocks/ids.ts';
import { denyReasonModal, readDenyReason } from '../blocks/deny-reason-modal.ts';
import type { ModalStateValues } from '../blocks/request-modal.ts';
import type { ListenerContext } from './listener-context.ts';
import { logRefusal, runForClick, runUseCase, tellRefusal } from './answers.ts';
import { parseClick, tellOnly } from './clicks.ts';
import { evidenceOf } from './evidence.ts';
import { holdEvents } from './held-events.ts';
import { requestIdSchema } from './payloads.ts';

/**
 * Approve, Deny (which asks for a reason first) and Cancel. Deny is not bound to a revision:
 * refusing access that changed since it was shown never grants anything. Every handler acks at once, reads
 * only the request id from the payload, and lets the use case re-check who may do what against
 * the database and the policy; a refusal is shown only to the person who clicked. The messages
 * that follow come from what the use case publishes.
 */
export function registerDecisionListeners(app: App, ctx: ListenerContext): void {
  app.action(APPROVE, async ({ ack, body, client, context }) => {
    await ack();
    const click = parseClick(body, ctx);
    if (!click) return;
    // Approve exactly the revision the message showed; a click without one (not from Latch's
    // own message) is refused rather than applied to whatever the request is now.
    const revision = revisionOfApprovalBlock(click.blockId);
    if (revision === undefined) {
      await tellOnly(client, click, 'This button is not from a current Latch message; use the request in its approval channel.', ctx);
      return;
    }
    // A refusal may close the request (it no longer fits the policy in force): the person who
    // clicked hears why first, then the request's messages and its requester.
    const held = holdEvents(ctx.services);
    const result = await runForClick(ctx, client, click, { action: APPROVE, what: 'record your approval' }, () =>
      decideRequest(held.services, { requestId: click.requestId, deciderId: click.userId, decision: 'approve', revision, evidence: evidenceOf(context) }),
    );
    if (!result) return;
    if (!result.ok) await tellRefusal(ctx, client, click, APPROVE, result.refusal);
    await held.release();
    if (click.fromHome) await ctx.home.publish(click.userId);
  });

  // "Approve all" on a bundle's card: an approval on each waiting item, each checked on its own.
  app.action(APPROVE_ALL, async ({ ack, body, client, context }) => {
    await ack();
    const click = parseClick(body, ctx);
    if (!click) return;
    const revisions = revisionsOfBundleBlock(click.blockId);
    if (revisions === undefined) {
      await tellOnly(client, click, 'This button is not from a current Latch message; use the request in its approval channel.', ctx);
      return;
    }
    const held = holdEvents(ctx.services);
    const result = await runForClick(ctx, client, click, { action: APPROVE_ALL, what: 'record your approvals' }, () =>
      approveBundle(held.services, { bundleId: click.requestId, deciderId: click.userId, revisions, evidence: evidenceOf(context) }),
    );
    if (!result) return;
    if (!result.ok) await tellRefusal(ctx, client, click, APPROVE_ALL, result.refusal);
    else if (result.left.length > 0) {
      for (const { refusal, requestId } of result.left) logRefusal(ctx, refusal, { action: APPROVE_ALL, accessRequestId: requestId, user: click.userId });
      await tellOnly(client, click, approveAllLeftText(result.approved.length, result.left), ctx);
    }
    await held.release();
  });

  app.action(DENY, async ({ ack, body, client }) => {
    await ack();
    const click = parseClick(body, ctx);
    if (!click || body.type !== 'block_actions') return;
    // Say "not an approver" now, rather than after someone has typed a reason.
    const allowed = await runForClick(ctx, client, click, { action: DENY, what: 'open the form to deny this request' }, () => checkDecider(ctx.services, click.requestId, click.userId, 'deny'));
    if (!allowed) return;
    if (!allowed.ok) {
      await tellRefusal(ctx, client, click, DENY, allowed.refusal);
      return;
    }
    await client.views.open({
      trigger_id: body.trigger_id,
      view: denyReasonModal({ requestId: allowed.request.id, resourceName: allowed.resource.name, role: allowed.request.role }),
    });
  });

  app.view(DENY_MODAL, async ({ ack, body, view, context }) => {
    const requestId = requestIdSchema.safeParse(view.private_metadata);
    if (!requestId.success) {
      await ack({ response_action: 'errors', errors: { [DENY_REASON_BLOCK]: 'This form no longer points at a request.' } });
      return;
    }
    const reason = readDenyReason(view.state.values as ModalStateValues);
    if (!reason) {
      await ack({ response_action: 'errors', errors: { [DENY_REASON_BLOCK]: 'Say why, so the requester knows.' } });
      return;
    }
    // Decided before the ack, so a refusal (already decided, no longer an approver) shows in the form.
    const held = holdEvents(ctx.services);
    const asked = { action: DENY_MODAL, accessRequestId: requestId.data, user: body.user.id };
    const result = await runUseCase(
      ctx,
      { ...asked, what: 'record your denial' },
      () => decideRequest(held.services, { requestId: requestId.data, deciderId: body.user.id, decision: 'deny', comment: reason, evidence: evidenceOf(context) }),
      (text) => ack({ response_action: 'errors', errors: { [DENY_REASON_BLOCK]: text } }),
    );
    if (!result) return;
    if (!result.ok) logRefusal(ctx, result.refusal, asked);
    await ack(result.ok ? undefined : { response_action: 'errors', errors: { [DENY_REASON_BLOCK]: result.refusal.message } });
    await held.release();
  });

  app.action(CANCEL, async ({ ack, body, client, context }) => {
    await ack();
    const click = parseClick(body, ctx);
    if (!click) return;
    const result = await runForClick(ctx, client, click, { action: CANCEL, what: 'cancel this request' }, () =>
      cancelRequest(ctx.services, { requestId: click.requestId, userId: click.userId, evidence: evidenceOf(context) }),
    );
    if (!result) return;
    if (!result.ok) await tellRefusal(ctx, client, click, CANCEL, result.refusal);
    if (click.fromHome) await ctx.home.publish(click.userId);
  });

  // "I'm done" in the holder's DM, "Revoke now" on the approval message: the use case decides who may.
  app.action(END_ACCESS, async ({ ack, body, client, context }) => {
    await ack();
    const click = parseClick(body, ctx);
    if (!click) return;
    const result = await runForClick(ctx, client, click, { action: END_ACCESS, what: 'end this access' }, () =>
      endAccessEarly(ctx.services, { requestId: click.requestId, userId: click.userId, evidence: evidenceOf(context) }),
    );
    if (!result) return;
    if (!result.ok) await tellRefusal(ctx, client, click, END_ACCESS, result.refusal);
    if (click.fromHome) await ctx.home.publish(click.userId);
  });
}

/** What "Approve all" left undone, and why, item by item: only the person who clicked sees it. */
function approveAllLeftText(approved: number, left: ReadonlyArray<{ item: string; refusal: Refusal }>): string {
  const head = approved > 0 ? `Your approval was recorded on ${approved} of ${approved + left.length} waiting items.` : 'Your approval was not recorded on any item.';
  const lines = left.map(({ item, refusal }) => `• \`${escapeMrkdwn(item)}\`: ${escapeMrkdwn(refusal.message)}`);
  return [head, 'Left for others:', ...lines].join('\n');
}
