import type { types } from '@slack/bolt';
import { MAX_REASON_LENGTH, MAX_TICKET_LENGTH, type FieldErrors } from '../../domain/access-request-rules.ts';
import { formatDuration } from '../../domain/duration.ts';
import { describeScopeParameter, MAX_SCOPE_VALUE_LENGTH, type ScopeParameter } from '../../domain/scope-rules.ts';
import { truncate } from '../mrkdwn.ts';
import { MAX_BUNDLE_ITEMS, parseItemList, type BundleItem } from '../../domain/request-bundle.ts';
import {
  REQUEST_ALSO_ACTION,
  REQUEST_ALSO_BLOCK,
  REQUEST_DURATION_ACTION,
  REQUEST_DURATION_BLOCK,
  REQUEST_MODAL,
  REQUEST_REASON_ACTION,
  REQUEST_REASON_BLOCK,
  REQUEST_RESOURCE_ACTION,
  REQUEST_RESOURCE_BLOCK,
  REQUEST_SCOPE_ACTION,
  REQUEST_SCOPE_BLOCK_PREFIX,
  REQUEST_ROLE_ACTION,
  REQUEST_ROLE_BLOCK_PREFIX,
  REQUEST_ROLE_HINT_BLOCK,
  REQUEST_START_ACTION,
  REQUEST_START_BLOCK,
  REQUEST_TICKET_ACTION,
  REQUEST_TICKET_BLOCK,
  requestRoleBlockId,
} from './ids.ts';

/**
 * The /request-access modal. Picking a resource dispatches a block action; the listener rebuilds
 * this view with that resource selected (views.update), which is how the role choices follow the
 * resource. Everything here is plain text (option labels, placeholders), so nothing is mrkdwn.
 */

export interface RequestModalRole {
  id: string;
  description?: string;
  maxDurationSeconds: number;
  /** The role's scope parameters (domain/scope-rules.ts): one field each in the form. */
  scopes?: ScopeParameter[];
}

export interface RequestModalResource {
  id: string;
  name: string;
  description?: string;
  roles: RequestModalRole[];
  /** Suggested in the duration field until the person types their own. */
  defaultDurationSeconds?: number;
}

export interface RequestModalValues {
  role?: string;
  duration?: string;
  reason?: string;
  ticket?: string;
  startsAt?: Date | null;
  /** The "also request" pairs picked, as `resource:role`. */
  also?: string[];
  /** What was typed in each scope field, by parameter. */
  scope?: Record<string, string>;
}

export interface RequestModalInput {
  resources: RequestModalResource[];
  selectedResourceId?: string;
  values?: RequestModalValues;
}

/** What a person submitted, trimmed; the use case validates it against the policy. */
export interface RequestModalSubmission {
  resourceId?: string;
  role?: string;
  duration: string;
  reason: string;
  ticket: string | null;
  /** A later start picked in the modal; absent means as soon as approved. */
  startsAt: Date | null;
  /** More resource and role pairs to ask for with the one above, in the order picked; empty for one. */
  also: BundleItem[];
  /** The scope fields filled in, values split at commas; empty fields left out (null when none). */
  scope: Record<string, string[]> | null;
  /** The scope fields as typed, to carry over when the view is rebuilt. */
  scopeText: Record<string, string>;
}

/** `view.state.values` as Slack sends it: block_id → action_id → the element's state. */
export type ModalStateValues = Record<
  string,
  Record<
    string,
    { type: string; value?: string | null; selected_option?: { value: string } | null; selected_options?: Array<{ value: string }> | null; selected_date_time?: number | null }
  >
>;

// Slack's limits on select menus.
const MAX_STATIC_OPTIONS = 100;
const MAX_OPTION_TEXT = 75;
const MAX_PLACEHOLDER = 150;
const MAX_HINT = 2000;
const MAX_TEXT_INPUT = 3000;
const EXAMPLE_DURATION_SECONDS = 2 * 60 * 60;

export function requestModal(input: RequestModalInput): types.ModalView {
  const selected = input.resources.find((resource) => resource.id === input.selectedResourceId);
  const values = input.values ?? {};
  return {
    type: 'modal',
    callback_id: REQUEST_MODAL,
    title: plainText('Request access'),
    submit: plainText('Request'),
    close: plainText('Cancel'),
    blocks: [
      resourceInput(input.resources, selected),
      ...roleBlocks(selected, values.role),
      ...scopeInputs(selected, values.role, values.scope),
      ...alsoInput(input.resources, values.also),
      durationInput(selected, values.duration),
      reasonInput(values.reason),
      ticketInput(values.ticket),
      startInput(values.startsAt),
    ],
  };
}

/** The options for the external resource select (Bolt's `app.options`), matched on id or name. */
export function resourceOptions(resources: readonly RequestModalResource[], query: string): types.PlainTextOption[] {
  const needle = query.trim().toLowerCase();
  return resources
    .filter((resource) => resource.id.toLowerCase().includes(needle) || resource.name.toLowerCase().includes(needle))
    .slice(0, MAX_STATIC_OPTIONS)
    .map(resourceOption);
}

/** Reads a submitted (or in-progress) request modal. Missing and empty fields come back empty. */
export function readRequestModal(stateValues: ModalStateValues): RequestModalSubmission {
  const roleBlockId = Object.keys(stateValues).find((blockId) => blockId.startsWith(REQUEST_ROLE_BLOCK_PREFIX));
  const resourceId = stateValues[REQUEST_RESOURCE_BLOCK]?.[REQUEST_RESOURCE_ACTION]?.selected_option?.value;
  const role = roleBlockId ? stateValues[roleBlockId]?.[REQUEST_ROLE_ACTION]?.selected_option?.value : undefined;
  const ticket = textValue(stateValues, REQUEST_TICKET_BLOCK, REQUEST_TICKET_ACTION);
  const also = (stateValues[REQUEST_ALSO_BLOCK]?.[REQUEST_ALSO_ACTION]?.selected_options ?? []).map((option) => option.value);
  // Only what this modal offered can come back; anything else is not a pair and is dropped.
  const parsedAlso = also.length > 0 ? parseItemList(also.join(',')) : null;
  const scopeText: Record<string, string> = {};
  for (const blockId of Object.keys(stateValues)) {
    if (!blockId.startsWith(REQUEST_SCOPE_BLOCK_PREFIX)) continue;
    const text = textValue(stateValues, blockId, REQUEST_SCOPE_ACTION);
    if (text !== '') scopeText[blockId.slice(REQUEST_SCOPE_BLOCK_PREFIX.length)] = text;
  }
  const scopeEntries = Object.entries(scopeText).map(([name, text]) => [name, text.split(',').map((value) => value.trim()).filter((value) => value !== '')] as const);
  return {
    ...(resourceId ? { resourceId } : {}),
    ...(role ? { role } : {}),
    duration: textValue(stateValues, REQUEST_DURATION_BLOCK, REQUEST_DURATION_ACTION),
    reason: textValue(stateValues, REQUEST_REASON_BLOCK, REQUEST_REASON_ACTION),
    ticket: ticket === '' ? null : ticket,
    startsAt: startOf(stateValues),
    also: parsedAlso?.ok ? parsedAlso.items : [],
    scope: scopeEntries.length > 0 ? Object.fromEntries(scopeEntries) : null,
    scopeText,
  };
}

/** The picked "also request" pairs as `resource:role`, to carry over when the view is rebuilt. */
export function alsoValues(submission: Pick<RequestModalSubmission, 'also'>): string[] {
  return submission.also.map((item) => `${item.resourceId}:${item.role}`);
}

/** Slack's datetimepicker gives Unix seconds. */
function startOf(stateValues: ModalStateValues): Date | null {
  const seconds = stateValues[REQUEST_START_BLOCK]?.[REQUEST_START_ACTION]?.selected_date_time;
  return typeof seconds === 'number' && Number.isFinite(seconds) ? new Date(seconds * 1000) : null;
}

/**
 * The use case's field errors keyed by block_id, as `ack({ response_action: 'errors', errors })`
 * wants them. Without a role block (no resource selected) a role error is shown on the resource.
 */
export function requestModalErrors(errors: FieldErrors & { also?: string }, selectedResourceId?: string, scopeFields: readonly string[] = []): Record<string, string> {
  const roleBlock = selectedResourceId ? requestRoleBlockId(selectedResourceId) : REQUEST_RESOURCE_BLOCK;
  const blockOf = {
    resource: REQUEST_RESOURCE_BLOCK,
    role: roleBlock,
    duration: REQUEST_DURATION_BLOCK,
    reason: REQUEST_REASON_BLOCK,
    ticket: REQUEST_TICKET_BLOCK,
    startsAt: REQUEST_START_BLOCK,
    also: REQUEST_ALSO_BLOCK,
  } as const;
  const byBlock: Record<string, string> = {};
  for (const [field, message] of Object.entries(errors) as [string, string | undefined][]) {
    if (!message) continue;
    // A parameter's problem goes beside its field; one the form has no field for, beside the role.
    const parameter = field.startsWith('scope.') ? field.slice('scope.'.length) : null;
    const blockId =
      parameter !== null && scopeFields.includes(parameter)
        ? `${REQUEST_SCOPE_BLOCK_PREFIX}${parameter}`
        : field === 'scope' || parameter !== null
          ? roleBlock
          : blockOf[field as keyof typeof blockOf];
    if (!blockId) continue;
    byBlock[blockId] = byBlock[blockId] ? `${byBlock[blockId]} ${message}` : message;
  }
  return byBlock;
}

function resourceInput(resources: readonly RequestModalResource[], selected?: RequestModalResource): types.InputBlock {
  const initial = selected ? { initial_option: resourceOption(selected) } : {};
  // Slack refuses more than 100 options in a static select; beyond that the list is searched.
  const element: types.StaticSelect | types.ExternalSelect =
    resources.length <= MAX_STATIC_OPTIONS
      ? { type: 'static_select', action_id: REQUEST_RESOURCE_ACTION, placeholder: plainText('Pick a resource'), options: resources.map(resourceOption), ...initial }
      : { type: 'external_select', action_id: REQUEST_RESOURCE_ACTION, placeholder: plainText('Search resources'), min_query_length: 0, ...initial };
  return {
    type: 'input',
    block_id: REQUEST_RESOURCE_BLOCK,
    // Choosing a resource must reach the listener at once so it can show that resource's roles.
    dispatch_action: true,
    label: plainText('Resource'),
    element,
  };
}

function roleBlocks(selected: RequestModalResource | undefined, role?: string): types.KnownBlock[] {
  if (!selected) return [contextNote('Pick a resource to see its roles.')];
  if (selected.roles.length === 0) return [contextNote(`${selected.name} has no roles to request.`)];
  // A policy with more than 100 roles on one resource is not realistic; Slack would refuse it whole.
  const options = selected.roles.slice(0, MAX_STATIC_OPTIONS).map(roleOption);
  const initial = options.find((option) => option.value === role);
  // Where roles differ in their scope fields, picking one rebuilds the form with its own fields.
  const scoped = selected.roles.some((each) => (each.scopes ?? []).length > 0);
  return [
    {
      type: 'input',
      block_id: requestRoleBlockId(selected.id),
      ...(scoped ? { dispatch_action: true } : {}),
      label: plainText('Role'),
      element: {
        type: 'static_select',
        action_id: REQUEST_ROLE_ACTION,
        placeholder: plainText('Pick a role'),
        options,
        ...(initial ? { initial_option: initial } : {}),
      },
    },
  ];
}

/**
 * One text field per scope parameter. Once a role is picked, its own parameters, each required
 * when the role needs a value of it (Slack then refuses an empty field before sending). Before
 * that, every parameter of the resource's roles, optional, saying which roles take it (a
 * parameter several roles share is one field). Several values are separated by commas.
 */
function scopeInputs(selected: RequestModalResource | undefined, role: string | undefined, typed: Record<string, string> = {}): types.InputBlock[] {
  const picked = selected?.roles.find((each) => each.id === role);
  const byName = new Map<string, { parameter: ScopeParameter; roles: string[] }>();
  for (const each of picked ? [picked] : (selected?.roles ?? [])) {
    for (const parameter of each.scopes ?? []) {
      const known = byName.get(parameter.name);
      if (known) known.roles.push(each.id);
      else byName.set(parameter.name, { parameter, roles: [each.id] });
    }
  }
  return [...byName.values()].map(({ parameter, roles }) => {
    const several = parameter.maxValues > 1 ? ` Up to ${parameter.maxValues} values, separated by commas.` : '';
    const forRoles = picked || roles.length === selected!.roles.length ? '' : ` For ${roles.join(', ')}.`;
    const hint = `${parameter.description ?? describeScopeParameter(parameter)}.${several}${forRoles}`.replace(/\.\./g, '.');
    const initial = Object.hasOwn(typed, parameter.name) ? typed[parameter.name] : undefined;
    return {
      type: 'input',
      block_id: `${REQUEST_SCOPE_BLOCK_PREFIX}${parameter.name}`,
      optional: !picked || parameter.minValues === 0,
      label: plainText(truncate(`Scope: ${parameter.name}`, MAX_OPTION_TEXT)),
      hint: plainText(truncate(hint, MAX_HINT)),
      element: {
        type: 'plain_text_input',
        action_id: REQUEST_SCOPE_ACTION,
        // Slack refuses a text input longer than 3000 characters.
        max_length: Math.min(MAX_TEXT_INPUT, (MAX_SCOPE_VALUE_LENGTH + 1) * parameter.maxValues),
        placeholder: plainText(truncate(parameter.values ? parameter.values.join(', ') : `e.g. a value matching ${parameter.pattern}`, MAX_PLACEHOLDER)),
        ...(initial ? { initial_value: initial } : {}),
      },
    };
  });
}

/**
 * "Also request": more resource and role pairs, asked for with the one above as one request (each
 * still decided, granted and revoked on its own). Offered while every pair fits one static menu
 * (Slack's 100 options, 75 characters a value); a longer policy uses the command's list form.
 */
function alsoInput(resources: readonly RequestModalResource[], picked: readonly string[] = []): types.InputBlock[] {
  const pairs = resources.flatMap((resource) => resource.roles.map((role) => ({ value: `${resource.id}:${role.id}`, option: pairOption(resource, role) })));
  if (pairs.length < 2 || pairs.length > MAX_STATIC_OPTIONS || pairs.some((pair) => pair.value.length > MAX_OPTION_TEXT)) return [];
  const options = pairs.map((pair) => pair.option);
  const initial = pairs.filter((pair) => picked.includes(pair.value)).map((pair) => pair.option);
  return [
    {
      type: 'input',
      block_id: REQUEST_ALSO_BLOCK,
      optional: true,
      label: plainText('Also request'),
      hint: plainText(`More resources for the same time and reason, up to ${MAX_BUNDLE_ITEMS} in all. Each is approved and granted on its own.`),
      element: {
        type: 'multi_static_select',
        action_id: REQUEST_ALSO_ACTION,
        placeholder: plainText('Add resource · role pairs'),
        max_selected_items: MAX_BUNDLE_ITEMS - 1,
        options,
        ...(initial.length > 0 ? { initial_options: initial } : {}),
      },
    },
  ];
}

function pairOption(resource: RequestModalResource, role: RequestModalRole): types.PlainTextOption {
  return { text: plainText(truncate(`${resource.name} · ${role.id}`, MAX_OPTION_TEXT)), value: `${resource.id}:${role.id}` };
}

function durationInput(selected: RequestModalResource | undefined, duration?: string): types.InputBlock {
  return {
    type: 'input',
    block_id: REQUEST_DURATION_BLOCK,
    label: plainText('Duration'),
    hint: plainText('Like 30m, 2h, 1d or 1h30m. Access ends on its own when the time is up.'),
    element: {
      type: 'plain_text_input',
      action_id: REQUEST_DURATION_ACTION,
      placeholder: plainText(durationPlaceholder(selected)),
      ...(duration ? { initial_value: duration } : selected?.defaultDurationSeconds ? { initial_value: formatDuration(selected.defaultDurationSeconds) } : {}),
    },
  };
}

function reasonInput(reason?: string): types.InputBlock {
  return {
    type: 'input',
    block_id: REQUEST_REASON_BLOCK,
    label: plainText('Reason'),
    element: {
      type: 'plain_text_input',
      action_id: REQUEST_REASON_ACTION,
      multiline: true,
      max_length: MAX_REASON_LENGTH,
      placeholder: plainText('What do you need to do, and why now?'),
      ...(reason ? { initial_value: reason } : {}),
    },
  };
}

function ticketInput(ticket?: string): types.InputBlock {
  return {
    type: 'input',
    block_id: REQUEST_TICKET_BLOCK,
    optional: true,
    label: plainText('Ticket'),
    element: {
      type: 'plain_text_input',
      action_id: REQUEST_TICKET_ACTION,
      max_length: MAX_TICKET_LENGTH,
      placeholder: plainText('e.g. OPS-1234'),
      ...(ticket ? { initial_value: ticket } : {}),
    },
  };
}

/**
 * A later start (a maintenance window tonight), shown in the person's own time zone by Slack.
 * Empty means as soon as approved. What was picked is carried over when the view is rebuilt.
 */
function startInput(startsAt?: Date | null): types.InputBlock {
  return {
    type: 'input',
    block_id: REQUEST_START_BLOCK,
    optional: true,
    label: plainText('Start at'),
    hint: plainText('Leave empty to start as soon as it is approved. The duration counts from the start.'),
    element: {
      type: 'datetimepicker',
      action_id: REQUEST_START_ACTION,
      ...(startsAt ? { initial_date_time: Math.floor(startsAt.getTime() / 1000) } : {}),
    },
  };
}

/** "e.g. 2h (at most 8h)", from the longest any role of the resource allows. */
function durationPlaceholder(selected?: RequestModalResource): string {
  const longest = Math.max(0, ...(selected?.roles ?? []).map((role) => role.maxDurationSeconds));
  if (longest === 0) return `e.g. ${formatDuration(EXAMPLE_DURATION_SECONDS)}`;
  const example = formatDuration(Math.min(EXAMPLE_DURATION_SECONDS, longest));
  return truncate(`e.g. ${example} (at most ${formatDuration(longest)})`, MAX_PLACEHOLDER);
}

function resourceOption(resource: RequestModalResource): types.PlainTextOption {
  return {
    text: plainText(truncate(resource.name, MAX_OPTION_TEXT)),
    value: resource.id,
    ...(resource.description ? { description: plainText(truncate(resource.description, MAX_OPTION_TEXT)) } : {}),
  };
}

function roleOption(role: RequestModalRole): types.PlainTextOption {
  const label = role.description ? `${role.id} — ${role.description}` : role.id;
  return {
    text: plainText(truncate(label, MAX_OPTION_TEXT)),
    value: role.id,
    // Roles of one resource may allow different durations: say so before the person picks.
    description: plainText(`at most ${formatDuration(role.maxDurationSeconds)}`),
  };
}

function contextNote(text: string): types.ContextBlock {
  return { type: 'context', block_id: REQUEST_ROLE_HINT_BLOCK, elements: [plainText(text)] };
}

function textValue(stateValues: ModalStateValues, blockId: string, actionId: string): string {
  return (stateValues[blockId]?.[actionId]?.value ?? '').trim();
}

function plainText(text: string): types.PlainTextElement {
  return { type: 'plain_text', text };
}
