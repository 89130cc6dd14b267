import type { App } from '@slack/bolt';
import { checkExtension, requestExtension } from '../../services/request-extension.ts';
import { extensionModal, extensionModalErrors, readExtensionModal } from '../blocks/extension-modal.ts';
import { EXTEND_ACCESS, EXTEND_MODAL } from '../blocks/ids.ts';
import type { ModalStateValues } from '../blocks/request-modal.ts';
import { logRefusal, runForClick, runUseCase, tellRefusal } from './answers.ts';
import { parseClick } from './clicks.ts';
import { holdEvents } from './held-events.ts';
import type { ListenerContext } from './listener-context.ts';
import { requestIdSchema } from './payloads.ts';

/**
 * "Ask for more time" on the holder's DM: checked before the form opens, so someone who may not
 * ask is told at once, and checked again on submit, when the request for more time is stored and
 * posted to the approvers like any request.
 */
export function registerExtensionListeners(app: App, ctx: ListenerContext): void {
  app.action(EXTEND_ACCESS, async ({ ack, body, client }) => {
    await ack();
    const click = parseClick(body, ctx);
    if (!click || !('trigger_id' in body)) return;
    const check = await runForClick(ctx, client, click, { action: EXTEND_ACCESS, what: 'open the form to ask for more time' }, () => checkExtension(ctx.services, click.requestId, click.userId));
    if (!check) return;
    if (!check.ok) {
      await tellRefusal(ctx, client, click, EXTEND_ACCESS, check.refusal);
      return;
    }
    const heldSeconds = Math.round((check.held.until.getTime() - check.held.since.getTime()) / 1000);
    await client.views.open({
      trigger_id: body.trigger_id,
      view: extensionModal({
        requestId: check.head.id,
        resourceName: check.resource.name,
        role: check.role.id,
        until: check.held.until,
        leftSeconds: Math.max(0, check.role.maxDurationSeconds - heldSeconds),
      }),
    });
  });

  app.view(EXTEND_MODAL, async ({ ack, body, view }) => {
    const requestId = requestIdSchema.safeParse(view.private_metadata);
    if (!requestId.success) {
      await ack({ response_action: 'errors', errors: extensionModalErrors({ message: 'This form no longer points at your access.' }) });
      return;
    }
    const held = holdEvents(ctx.services);
    const asked = { action: EXTEND_MODAL, accessRequestId: requestId.data, user: body.user.id };
    const result = await runUseCase(
      ctx,
      { ...asked, what: 'ask for more time' },
      () => requestExtension(held.services, { requestId: requestId.data, requesterId: body.user.id, teamId: body.team?.id ?? null, ...readExtensionModal(view.state.values as ModalStateValues) }),
      (text) => ack({ response_action: 'errors', errors: extensionModalErrors({ message: text }) }),
    );
    if (!result) return;
    if (!result.ok) {
      logRefusal(ctx, result.refusal, asked);
      await ack({ response_action: 'errors', errors: extensionModalErrors(result.refusal) });
      return;
    }
    await ack();
    await held.release();
  });
}
