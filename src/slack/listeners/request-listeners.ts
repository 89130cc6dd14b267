import type { App, RespondFn } from '@slack/bolt';
import type { WebClient } from '@slack/web-api';
import type { ResourcePolicy } from '../../domain/policy.ts';
import { listRequestableResources } from '../../services/list-requestable-resources.ts';
import { requestAccess, type RequestAccessResult } from '../../services/request-access.ts';
import { requestAccessBundle, type RequestAccessBundleResult } from '../../services/request-access-bundle.ts';
import { parseItemList } from '../../domain/request-bundle.ts';
import type { Refusal } from '../../services/refusal.ts';
import { parseScopeToken, scopeFromTokens } from '../../domain/scope-rules.ts';
import { REQUEST_MODAL, REQUEST_RESOURCE_ACTION, REQUEST_ROLE_ACTION, REQUEST_SCOPE_BLOCK_PREFIX } from '../blocks/ids.ts';
import {
  alsoValues,
  readRequestModal,
  requestModal,
  requestModalErrors,
  resourceOptions,
  type ModalStateValues,
  type RequestModalResource,
} from '../blocks/request-modal.ts';
import { escapeMrkdwn } from '../mrkdwn.ts';
import { logRefusal, runUseCase } from './answers.ts';
import { answerLoginCommand, LOGIN_WORD } from './cli-login-listeners.ts';
import { ANSWER_IN_ACK_WHILE_IN_FLIGHT_AT_MOST, CommandReply } from './command-reply.ts';
import { holdEvents } from './held-events.ts';
import type { ListenerContext } from './listener-context.ts';
import { slashCommandSchema } from './payloads.ts';

export const REQUEST_COMMAND = '/request-access';

// Escaped like any text for Slack: unescaped, `<resource>` would be read as a link and show nothing.
const USAGE_ONE =
  'Type `/request-access` to pick from a form, or `/request-access <resource> <role> <duration> <reason>`, e.g. `/request-access prod-db read 2h investigating INC-42`.';
const USAGE_SCOPE = 'For a role with a scope, give it after the duration: `/request-access support-db debug 30m customer=4711,4712 tables=public.orders <reason>`.';
const USAGE = escapeMrkdwn(
  `${USAGE_ONE} ${USAGE_SCOPE} ` +
  'Several at once: `/request-access prod-db:read,billing-db:admin 2h investigating INC-42` (up to 10 resource:role pairs, each decided on its own). ' +
  'In an emergency, where the policy allows it: `/request-access break-glass <resource> <role> <duration> <reason>` grants at once, tells the security channel, and must be reviewed afterwards. ' +
  'To use Latch from a terminal: run `latch login` there, then `/request-access login <code>` with the code it prints.',
);
const HELP_HINT = 'Type `/request-access help` for every way to ask.';

/**
 * What follows a refusal's lines: the whole usage when the command itself was malformed, the scope
 * form alone when only the scope was wrong, and a pointer to `help` when the command was well
 * formed and the policy (or the target) said no, where the usage would bury the one line that matters.
 */
function usageAfter(refusal: Refusal): string {
  if (refusal.code !== 'invalid_input') return escapeMrkdwn(HELP_HINT);
  const fields = Object.keys(refusal.fields ?? {});
  const aboutScopeOnly = fields.length > 0 && fields.every((field) => field === 'scope' || field.startsWith('scope.'));
  return aboutScopeOnly ? escapeMrkdwn(`${USAGE_SCOPE} ${HELP_HINT}`) : USAGE;
}
const BREAK_GLASS_WORD = 'break-glass';

/**
 * `/request-access`: with no text it opens the request modal; with `<resource> <role> <duration>
 * <reason>` it requests at once. The modal's resource select rebuilds the view so the roles follow
 * the resource; its submission is validated by the use case, whose field errors come back inline.
 */
export function registerRequestListeners(app: App, ctx: ListenerContext): void {
  app.command(REQUEST_COMMAND, async ({ ack, body, client, respond }) => {
    // The answer goes in the ack when it is ready in time (see CommandReply), through response_url otherwise.
    const reply = new CommandReply(ack, respond, ctx.logger);
    try {
      // Under load the ack goes at once, like every other listener's, and the answer follows.
      if ((ctx.slackWorkInFlight?.() ?? 0) > ANSWER_IN_ACK_WHILE_IN_FLIGHT_AT_MOST) await reply.acknowledge();
      await answerCommand(ctx, reply, body, client, respond);
    } finally {
      await reply.finish();
    }
  });

  // Picking a resource shows its roles; picking a role shows that role's scope fields.
  for (const [action, keepRole] of [[REQUEST_RESOURCE_ACTION, false], [REQUEST_ROLE_ACTION, true]] as const) {
    app.action(action, async ({ ack, body, client }) => {
      await ack();
      if (body.type !== 'block_actions' || !body.view) return;
      const submission = readRequestModal(body.view.state.values as ModalStateValues);
      const resources = await listRequestableResources(ctx.services, body.user.id);
      await client.views.update({
        view_id: body.view.id,
        // Slack refuses the update if the view changed since this click: no lost keystrokes.
        hash: body.view.hash,
        view: requestModal({
          resources: resources.map(toModalResource),
          ...(submission.resourceId ? { selectedResourceId: submission.resourceId } : {}),
          values: {
            // Another resource has other roles: its role is picked afresh.
            ...(keepRole && submission.role ? { role: submission.role } : {}),
            duration: submission.duration,
            reason: submission.reason,
            ticket: submission.ticket ?? '',
            startsAt: submission.startsAt,
            also: alsoValues(submission),
            scope: submission.scopeText,
          },
        }),
      });
    });
  }

  app.options(REQUEST_RESOURCE_ACTION, async ({ ack, body }) => {
    const resources = await listRequestableResources(ctx.services, body.user.id);
    await ack({ options: resourceOptions(resources.map(toModalResource), body.value ?? '') });
  });

  app.view(REQUEST_MODAL, async ({ ack, body, view }) => {
    const submission = readRequestModal(view.state.values as ModalStateValues);
    const held = holdEvents(ctx.services);
    const asked = { action: REQUEST_MODAL, user: body.user.id, resourceId: submission.resourceId, also: submission.also.length };
    const { also, ...one } = submission;
    const common = {
      requesterId: body.user.id,
      teamId: body.team?.id ?? null,
      // Slack shows an error when this answer takes over 3 s, and the person submits again.
      submissionKey: `slack-view:${view.id}`,
    };
    const { scope, scopeText: _typed, ...answers } = one;
    // With "also request" pairs picked, the pair above is the first of several (the scope fields are its own).
    const several = also.length > 0 && answers.resourceId && answers.role ? [{ resourceId: answers.resourceId, role: answers.role, scope }, ...also] : null;
    const scopeFields = Object.keys(view.state.values).filter((blockId) => blockId.startsWith(REQUEST_SCOPE_BLOCK_PREFIX)).map((blockId) => blockId.slice(REQUEST_SCOPE_BLOCK_PREFIX.length));
    const result = await runUseCase(
      ctx,
      { ...asked, what: 'send your request' },
      (): Promise<RequestAccessResult | RequestAccessBundleResult> =>
        several ? requestAccessBundle(held.services, { ...common, ...answers, items: several }) : requestAccess(held.services, { ...common, ...answers, scope }),
      (text) => ack({ response_action: 'errors', errors: requestModalErrors({ resource: text }) }),
    );
    if (!result) return;
    if (!result.ok) {
      logRefusal(ctx, result.refusal, asked);
      // A refusal about no one field (the pending limit, the identity) is shown on the resource.
      const fields = result.refusal.fields ?? { resource: result.refusal.message };
      // A refusal of an "also request" pair is shown there; the message names the pair.
      const item = result.refusal.detail?.item;
      const aboutAlso = several !== null && typeof item === 'string' && item !== `${one.resourceId}:${one.role}`;
      const shown = aboutAlso ? { ...fields, resource: undefined, role: undefined, also: fields.resource ?? fields.role ?? result.refusal.message } : fields;
      await ack({ response_action: 'errors', errors: requestModalErrors(shown, submission.resourceId, scopeFields) });
      return;
    }
    await ack();
    // A resubmission publishes nothing: its request is announced by the first submission (or the
    // re-announce sweep), and announcing it twice at the same moment would post it twice.
    await held.release();
  });
}

/** `/request-access` with whatever was typed after it; every answer goes through `reply`. */
async function answerCommand(ctx: ListenerContext, reply: CommandReply, body: unknown, client: WebClient, respond: RespondFn): Promise<void> {
  const command = slashCommandSchema.safeParse(body);
  if (!command.success) {
    ctx.logger.warn({ issues: command.error.issues }, 'ignored a malformed slash command');
    return;
  }
  const { user_id: userId, team_id: teamId, trigger_id: triggerId, text } = command.data;
  if (text.trim() === '') {
    // trigger_id lives 3 seconds: acked at once, and the modal opened before anything slow.
    await reply.acknowledge();
    const resources = await listRequestableResources(ctx.services, userId);
    if (resources.length === 0) {
      await respond({ response_type: 'ephemeral', text: 'There is nothing you may request access to: the policy lists you as a requester of no resource.' });
      return;
    }
    await client.views.open({ trigger_id: triggerId, view: requestModal({ resources: resources.map(toModalResource) }) });
    return;
  }
  if (text.trim() === 'help') {
    await reply.say({ response_type: 'ephemeral', text: USAGE });
    return;
  }
  const words = text.trim().split(/\s+/);
  if (words[0] === LOGIN_WORD) {
    // Its prompt carries buttons, answered through response_url as before.
    await reply.acknowledge();
    await answerLoginCommand(ctx, userId, words.slice(1).join(' '), respond);
    return;
  }
  // `prod-db:read,billing-db:admin 2h reason`: several resources at once.
  if (words[0]?.includes(':')) {
    if (leadingScopeTokens(words.slice(2)).tokens.length > 0) {
      await reply.say({ response_type: 'ephemeral', text: `Your request was not sent:\n• ${escapeMrkdwn(SCOPE_IN_LIST)}\n${escapeMrkdwn(HELP_HINT)}` });
      return;
    }
    await requestSeveral(ctx, (message) => reply.say(message), { userId, teamId: teamId ?? null, list: words[0], duration: words[1] ?? '', reason: words.slice(2).join(' ') });
    return;
  }
  const breakGlass = words[0] === BREAK_GLASS_WORD;
  const [resourceId, role, duration, ...rest] = breakGlass ? words.slice(1) : words;
  // `customer=4711,4712 tables=public.orders` right after the duration: the scope asked for.
  const { tokens, reason } = leadingScopeTokens(rest);
  const scope = tokens.length > 0 ? scopeFromTokens(tokens) : null;
  const asked = { action: REQUEST_COMMAND, user: userId, resourceId, breakGlass };
  const result = await runUseCase(
    ctx,
    { ...asked, what: 'send your request' },
    () => requestAccess(ctx.services, { requesterId: userId, teamId: teamId ?? null, breakGlass, resourceId, role, duration: duration ?? '', reason: reason.join(' '), ticket: null, scope }),
    async (text) => void (await reply.say({ response_type: 'ephemeral', text })),
  );
  if (!result) return;
  if (!result.ok) {
    logRefusal(ctx, result.refusal, asked);
    await reply.say({ response_type: 'ephemeral', text: `Your request was not sent:\n${describeRefusal(result.refusal)}\n${usageAfter(result.refusal)}` });
    return;
  }
  await reply.say({
    response_type: 'ephemeral',
    text: result.breakGlass
      ? 'Break-glass: your access is being granted now. The security channel has been told, and someone else must review this use.'
      : result.autoApprovedBy
        ? `Approved by policy rule ${result.autoApprovedBy}: your access is being granted, and you will get a message when it is.`
        : 'Request sent: you will get a message when it is decided.',
  });
}

/**
 * The inline command's list form: every item checked, then all requested in one go or none, each
 * refusal naming its item. One item is an ordinary request.
 */
async function requestSeveral(
  ctx: ListenerContext,
  respond: (message: { response_type: 'ephemeral'; text: string }) => Promise<unknown>,
  asked: { userId: string; teamId: string | null; list: string; duration: string; reason: string },
): Promise<void> {
  const parsed = parseItemList(asked.list);
  if (!parsed.ok) {
    await respond({ response_type: 'ephemeral', text: `Your request was not sent:\n• ${escapeMrkdwn(parsed.message)}\n${USAGE}` });
    return;
  }
  const logged = { action: REQUEST_COMMAND, user: asked.userId, items: parsed.items.length };
  const common = { requesterId: asked.userId, teamId: asked.teamId, duration: asked.duration, reason: asked.reason, ticket: null };
  const [only] = parsed.items;
  const result = await runUseCase(
    ctx,
    { ...logged, what: 'send your request' },
    (): Promise<RequestAccessResult | RequestAccessBundleResult> => (parsed.items.length === 1 && only ? requestAccess(ctx.services, { ...common, resourceId: only.resourceId, role: only.role }) : requestAccessBundle(ctx.services, { ...common, items: parsed.items })),
    async (text) => void (await respond({ response_type: 'ephemeral', text })),
  );
  if (!result) return;
  if (!result.ok) {
    logRefusal(ctx, result.refusal, logged);
    await respond({ response_type: 'ephemeral', text: `Your request was not sent:\n${describeRefusal(result.refusal)}\n${usageAfter(result.refusal)}` });
    return;
  }
  const autoApproved = 'items' in result ? result.items.filter((item) => item.autoApprovedBy).length : result.autoApprovedBy ? 1 : 0;
  const count = 'items' in result ? result.items.length : 1;
  await respond({
    response_type: 'ephemeral',
    text:
      count === 1
        ? autoApproved ? 'Approved by policy: your access is being granted, and you will get a message when it is.' : 'Request sent: you will get a message when it is decided.'
        : `Request for ${count} resources sent${autoApproved > 0 ? ` (${autoApproved} approved by policy)` : ''}: each is decided on its own, and you will get a message as each is.`,
  });
}

const SCOPE_IN_LIST = 'A scope (name=value) can be given for one resource at a time: /request-access <resource> <role> <duration> customer=4711 <reason>.';

/** The `name=value[,value]` tokens at the start of `words`, and the words after them (the reason). */
function leadingScopeTokens(words: readonly string[]): { tokens: Array<{ name: string; values: string[] }>; reason: string[] } {
  const tokens: Array<{ name: string; values: string[] }> = [];
  let index = 0;
  for (; index < words.length; index++) {
    const token = parseScopeToken(words[index]!);
    if (!token) break;
    tokens.push(token);
  }
  return { tokens, reason: words.slice(index) };
}

function toModalResource(resource: ResourcePolicy): RequestModalResource {
  return {
    id: resource.id,
    name: resource.name,
    ...(resource.description ? { description: resource.description } : {}),
    roles: resource.roles.map((role) => ({
      id: role.id,
      ...(role.description ? { description: role.description } : {}),
      maxDurationSeconds: role.maxDurationSeconds,
      ...(role.scopes ? { scopes: role.scopes } : {}),
    })),
    ...(resource.defaultDurationSeconds ? { defaultDurationSeconds: resource.defaultDurationSeconds } : {}),
  };
}

/** One line a field, or the refusal's message; they quote what was typed, so they are escaped like any user text. */
function describeRefusal(refusal: Refusal): string {
  return Object.values(refusal.fields ?? { refusal: refusal.message })
    .map((message) => `• ${escapeMrkdwn(message)}`)
    .join('\n');
}
