import { SpanKind, type Attributes } from '@opentelemetry/api';
import type { AnyMiddlewareArgs, Middleware } from '@slack/bolt';
import { currentLogContext } from '../logging/log-context.ts';
import { isRequestId } from '../services/request-id.ts';
import { inSpan, tracingIsOn } from './tracer.ts';

/**
 * Bolt global middleware: one SERVER span for each Slack request Latch serves (a command, a click,
 * a form submitted, an event), from Bolt's dispatch until its last listener has finished, so the
 * use case, its transactions, the jobs it queues and the Slack calls it makes are its children.
 * Named after what was asked (`slack action latch_approve`, `slack command /request-access`), with
 * Latch's request id (the `requestId` of the log lines and the `x-request-id` header) and the
 * access request a button names. Never the person's text: no command text, no form values.
 * With tracing off it only passes the request on.
 */
export const slackRequestSpan: Middleware<AnyMiddlewareArgs> = ({ body, next }) => {
  if (!tracingIsOn()) return next();
  const { name, attributes } = describe(body as SlackBody);
  const { requestId } = currentLogContext();
  return inSpan(name, { kind: SpanKind.SERVER, attributes: { ...attributes, ...(requestId ? { 'latch.request_id': requestId } : {}) } }, () => next());
};

interface SlackBody {
  type?: unknown;
  command?: unknown;
  actions?: Array<{ action_id?: unknown; value?: unknown }>;
  action_id?: unknown;
  view?: { callback_id?: unknown };
  callback_id?: unknown;
  event?: { type?: unknown };
}

function describe(body: SlackBody): { name: string; attributes: Attributes } {
  if (typeof body.command === 'string') return named('command', { 'slack.command': idOf(body.command) });
  switch (body.type) {
    case 'block_actions': {
      const action = body.actions?.[0];
      const value: Record<string, string> = typeof action?.value === 'string' && isRequestId(action.value) ? { 'latch.access_request.id': action.value } : {};
      return named('action', { 'slack.action_id': idOf(action?.action_id), ...value });
    }
    case 'block_suggestion':
      return named('options', { 'slack.action_id': idOf(body.action_id) });
    case 'view_submission':
    case 'view_closed':
      return named(body.type, { 'slack.callback_id': idOf(body.view?.callback_id) });
    case 'shortcut':
    case 'message_action':
      return named(body.type, { 'slack.callback_id': idOf(body.callback_id) });
    case 'event_callback':
      return named('event', { 'slack.event_type': idOf(body.event?.type) });
    default:
      return { name: 'slack request', attributes: { 'slack.payload_type': 'other' } };
  }
}

function named(type: string, attributes: Record<string, string>): { name: string; attributes: Attributes } {
  const id = Object.entries(attributes).find(([key]) => key.startsWith('slack.'))?.[1];
  return { name: `slack ${type} ${id}`, attributes: { 'slack.payload_type': type, ...attributes } };
}

/**
 * Latch's own ids (action_id, callback_id, the command) are short words; anything else in a
 * signed payload is named `other`, so a span name never carries what someone typed.
 */
function idOf(value: unknown): string {
  return typeof value === 'string' && /^\/?[A-Za-z0-9_.:-]{1,64}$/.test(value) ? value : 'other';
}
