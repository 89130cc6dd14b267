import { readStoredScope } from '../../domain/scope-rules.ts';
import { scopeShown } from '../blocks/scope-shown.ts';
import type { App } from '@slack/bolt';
import { z } from 'zod';
import { lesserRoles } from '../../domain/approval-change.ts';
import { parseDuration } from '../../domain/duration.ts';
import { checkDecider, decideRequest } from '../../services/decide-request.ts';
import { approveWithChangesModal, readApprovalChange } from '../blocks/approve-with-changes-modal.ts';
import { APPROVE_WITH_CHANGES, APPROVE_WITH_CHANGES_MODAL, CHANGE_DURATION_BLOCK, CHANGE_ROLE_BLOCK, revisionOfApprovalBlock, revisionOfChangeForm } from '../blocks/ids.ts';
import type { ModalStateValues } from '../blocks/request-modal.ts';
import type { ListenerContext } from './listener-context.ts';
import { logRefusal, runForClick, runUseCase, tellRefusal } from './answers.ts';
import { parseClick, tellOnly } from './clicks.ts';
import { evidenceOf } from './evidence.ts';
import { holdEvents } from './held-events.ts';
import { requestIdSchema } from './payloads.ts';

/** The blocks of a submitted form, for the id naming the revision the approver saw. */
const submittedBlocksSchema = z.array(z.object({ block_id: z.string().optional() }));

/**
 * "Approve with changes…": the click opens the modal for the revision the card showed (an outdated
 * card is refused at once); the submission narrows and approves in one use case, which re-checks
 * the approver, the revision and that the change only narrows the stored request.
 */
export function registerApproveWithChangesListeners(app: App, ctx: ListenerContext): void {
  app.action(APPROVE_WITH_CHANGES, async ({ ack, body, client }) => {
    await ack();
    const click = parseClick(body, ctx);
    if (!click || body.type !== 'block_actions') return;
    const revision = revisionOfApprovalBlock(click.blockId);
    if (revision === undefined) {
      await tellOnly(client, click, 'This button is not from a current Latch message; use the request in its approval channel.', ctx);
      return;
    }
    const allowed = await runForClick(ctx, client, click, { action: APPROVE_WITH_CHANGES, what: 'open the form to approve with changes' }, () => checkDecider(ctx.services, click.requestId, click.userId, 'approve'));
    if (!allowed) return;
    if (!allowed.ok) {
      await tellRefusal(ctx, client, click, APPROVE_WITH_CHANGES, allowed.refusal);
      return;
    }
    const { request, resource } = allowed;
    const scope = readStoredScope(request.scope);
    if (request.revision !== revision) {
      await tellOnly(client, click, 'This request changed after this message showed it: look at the updated request before approving.', ctx);
      return;
    }
    await client.views.open({
      trigger_id: body.trigger_id,
      view: approveWithChangesModal({
        requestId: request.id,
        revision,
        resourceName: resource.name,
        role: request.role,
        durationSeconds: request.durationSeconds,
        scope: scopeShown(scope === 'invalid' ? null : scope),
        lesserRoles: request.extendsRequestId || scope === 'invalid' ? [] : lesserRoles(resource, request.role, scope),
      }),
    });
  });

  app.view(APPROVE_WITH_CHANGES_MODAL, async ({ ack, body, view, context }) => {
    const requestId = requestIdSchema.safeParse(view.private_metadata);
    const blocks = submittedBlocksSchema.safeParse((view as { blocks?: unknown }).blocks);
    const revision = blocks.success ? revisionOfChangeForm(blocks.data.map((block) => block.block_id)) : undefined;
    if (!requestId.success || revision === undefined) {
      await ack({ response_action: 'errors', errors: { [CHANGE_DURATION_BLOCK]: 'This form no longer points at a request.' } });
      return;
    }
    const stateValues = view.state.values as ModalStateValues;
    const { role, durationText } = readApprovalChange(stateValues);
    const duration = parseDuration(durationText, ctx.services.minimumDurationSeconds);
    if (!duration.ok) {
      await ack({ response_action: 'errors', errors: { [CHANGE_DURATION_BLOCK]: duration.message } });
      return;
    }
    const shown = { requestId: requestId.data, revision };
    const held = holdEvents(ctx.services);
    const asked = { action: APPROVE_WITH_CHANGES_MODAL, accessRequestId: shown.requestId, user: body.user.id };
    const errorBlock = role !== null ? CHANGE_ROLE_BLOCK : CHANGE_DURATION_BLOCK;
    const result = await runUseCase(
      ctx,
      { ...asked, what: 'record your approval with changes' },
      () =>
        decideRequest(held.services, {
          requestId: shown.requestId,
          deciderId: body.user.id,
          decision: 'approve',
          revision: shown.revision,
          change: { role, durationSeconds: duration.seconds },
          evidence: evidenceOf(context),
        }),
      (text) => ack({ response_action: 'errors', errors: { [errorBlock]: text } }),
    );
    if (!result) return;
    if (!result.ok) logRefusal(ctx, result.refusal, asked);
    await ack(result.ok ? undefined : { response_action: 'errors', errors: { [errorBlock]: result.refusal.message } });
    await held.release();
    // The form may have been opened from App Home, whose "Waiting for your decision" must drop the
    // request. The form cannot say where it was opened (its private_metadata is the request id,
    // which the signed evidence is checked against), and this is a rare action: rebuild it always.
    if (result.ok) await ctx.home.publish(body.user.id);
  });
}
