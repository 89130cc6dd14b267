import { describe, expect, it } from 'vitest';
import {
  REQUEST_ALSO_ACTION,
  REQUEST_ALSO_BLOCK,
  REQUEST_DURATION_BLOCK,
  REQUEST_MODAL,
  REQUEST_REASON_BLOCK,
  REQUEST_RESOURCE_ACTION,
  REQUEST_RESOURCE_BLOCK,
  REQUEST_ROLE_ACTION,
  REQUEST_START_BLOCK,
  REQUEST_TICKET_BLOCK,
  requestRoleBlockId,
} from '../../../../src/slack/blocks/ids.ts';
import {
  readRequestModal,
  requestModal,
  requestModalErrors,
  resourceOptions,
  type ModalStateValues,
  type RequestModalResource,
} from '../../../../src/slack/blocks/request-modal.ts';

const HOUR = 3600;

const prodDb: RequestModalResource = {
  id: 'prod-db',
  name: 'Production database',
  description: 'The main PostgreSQL cluster',
  roles: [
    { id: 'read', description: 'Read-only queries', maxDurationSeconds: 8 * HOUR },
    { id: 'write', maxDurationSeconds: 2 * HOUR },
  ],
};
const deployBot: RequestModalResource = {
  id: 'deploy',
  name: 'Deploy pipeline',
  roles: [{ id: 'operator', description: 'Run deploys', maxDurationSeconds: 30 * 60 }],
};

function manyResources(count: number): RequestModalResource[] {
  return Array.from({ length: count }, (_, index) => ({
    id: `res-${index}`,
    name: `Resource ${index}`,
    roles: [{ id: 'read', maxDurationSeconds: HOUR }],
  }));
}

// Loosely typed views of the blocks, to read what a person would see.
type AnyBlock = Record<string, any>;
const blockById = (blocks: readonly AnyBlock[], blockId: string) => blocks.find((block) => block.block_id === blockId);
const roleBlock = (blocks: readonly AnyBlock[]) => blocks.find((block) => String(block.block_id).startsWith('latch_request_role:'));

describe('requestModal', () => {
  it('offers every resource and role pair to ask for with the one picked, keeping what was picked when rebuilt', () => {
    const view = requestModal({ resources: [prodDb, deployBot], values: { also: [`${deployBot.id}:${deployBot.roles[0]!.id}`] } });
    const also = blockById(view.blocks, REQUEST_ALSO_BLOCK) as { optional?: boolean; element?: { type: string; options: Array<{ value: string }>; initial_options?: Array<{ value: string }>; max_selected_items?: number } } | undefined;
    expect(also?.optional).toBe(true);
    expect(also?.element?.type).toBe('multi_static_select');
    expect(also?.element?.options.map((option) => option.value)).toEqual([...prodDb.roles, ...deployBot.roles].map((role, index) => `${index < prodDb.roles.length ? prodDb.id : deployBot.id}:${role.id}`));
    expect(also?.element?.initial_options?.map((option) => option.value)).toEqual([`${deployBot.id}:${deployBot.roles[0]!.id}`]);
    expect(also?.element?.max_selected_items).toBe(9);
  });

  it('offers no "Also request" menu when there is nothing else to ask for, or more pairs than one menu holds', () => {
    const single = { ...prodDb, roles: prodDb.roles.slice(0, 1) };
    expect(blockById(requestModal({ resources: [single] }).blocks, REQUEST_ALSO_BLOCK)).toBeUndefined();
    const many = Array.from({ length: 101 }, (_, index) => ({ ...single, id: `db-${index}` }));
    expect(blockById(requestModal({ resources: many }).blocks, REQUEST_ALSO_BLOCK)).toBeUndefined();
  });

  it('reads the picked pairs, and drops a value that is not a resource:role pair', () => {
    const pairs = (values: string[]): ModalStateValues => ({ [REQUEST_ALSO_BLOCK]: { [REQUEST_ALSO_ACTION]: { type: 'multi_static_select', selected_options: values.map((value) => ({ value })) } } });
    expect(readRequestModal(pairs(['billing-db:admin', 'hr-db:read'])).also).toEqual([{ resourceId: 'billing-db', role: 'admin' }, { resourceId: 'hr-db', role: 'read' }]);
    expect(readRequestModal(pairs(['billing-db'])).also).toEqual([]);
  });

  it('is a modal that submits to REQUEST_MODAL', () => {
    const view = requestModal({ resources: [prodDb] });
    expect(view).toMatchObject({
      type: 'modal',
      callback_id: REQUEST_MODAL,
      title: { type: 'plain_text', text: 'Request access' },
      submit: { type: 'plain_text', text: 'Request' },
      close: { type: 'plain_text', text: 'Cancel' },
    });
  });

  it('sends a block action as soon as a resource is chosen', () => {
    const resource = blockById(requestModal({ resources: [prodDb] }).blocks, REQUEST_RESOURCE_BLOCK);
    expect(resource).toMatchObject({ type: 'input', dispatch_action: true, element: { action_id: REQUEST_RESOURCE_ACTION } });
  });

  it.each([
    { count: 1, type: 'static_select' },
    { count: 100, type: 'static_select' },
    { count: 101, type: 'external_select' },
  ])('offers $count resource(s) in a $type', ({ count, type }) => {
    const element = blockById(requestModal({ resources: manyResources(count) }).blocks, REQUEST_RESOURCE_BLOCK)?.element;
    expect(element.type).toBe(type);
    if (type === 'static_select') expect(element.options).toHaveLength(count);
    else expect(element).toMatchObject({ min_query_length: 0 });
    expect(element.options?.length ?? 0).toBeLessThanOrEqual(100);
  });

  it('lists resources by name, with the id as the value', () => {
    const element = blockById(requestModal({ resources: [prodDb, deployBot] }).blocks, REQUEST_RESOURCE_BLOCK)?.element;
    expect(element.options.map((option: AnyBlock) => [option.text.text, option.value])).toEqual([
      ['Production database', 'prod-db'],
      ['Deploy pipeline', 'deploy'],
    ]);
  });

  it.each([
    { count: 2, type: 'static_select' },
    { count: 150, type: 'external_select' },
  ])('pre-selects the chosen resource in a $type', ({ count, type }) => {
    const resources = [...manyResources(count - 1), prodDb];
    const element = blockById(requestModal({ resources, selectedResourceId: 'prod-db' }).blocks, REQUEST_RESOURCE_BLOCK)?.element;
    expect(element.type).toBe(type);
    expect(element.initial_option).toMatchObject({ text: { text: 'Production database' }, value: 'prod-db' });
  });

  it('asks for a resource before showing roles', () => {
    const { blocks } = requestModal({ resources: [prodDb, deployBot] });
    expect(roleBlock(blocks)).toBeUndefined();
    expect(JSON.stringify(blocks)).toContain('Pick a resource to see its roles');
  });

  it("offers only the selected resource's roles, with what each allows", () => {
    const role = roleBlock(requestModal({ resources: [prodDb, deployBot], selectedResourceId: 'prod-db' }).blocks);
    expect(role).toMatchObject({ type: 'input', element: { type: 'static_select', action_id: REQUEST_ROLE_ACTION } });
    expect(role?.element.options.map((option: AnyBlock) => [option.text.text, option.value, option.description.text])).toEqual([
      ['read — Read-only queries', 'read', 'at most 8h'],
      ['write', 'write', 'at most 2h'],
    ]);
  });

  it('gives the role input a new block id per resource, so Slack forgets a role chosen for another', () => {
    const forProd = roleBlock(requestModal({ resources: [prodDb, deployBot], selectedResourceId: 'prod-db' }).blocks);
    const forDeploy = roleBlock(requestModal({ resources: [prodDb, deployBot], selectedResourceId: 'deploy' }).blocks);
    expect(forProd?.block_id).toBe(requestRoleBlockId('prod-db'));
    expect(forDeploy?.block_id).toBe(requestRoleBlockId('deploy'));
    expect(forProd?.block_id).not.toBe(forDeploy?.block_id);
  });

  it('keeps every option text within 75 characters', () => {
    const longName = 'N'.repeat(200);
    const resource = { id: 'long', name: longName, roles: [{ id: 'read', description: 'D'.repeat(200), maxDurationSeconds: HOUR }] };
    const blocks = requestModal({ resources: [resource], selectedResourceId: 'long' }).blocks as AnyBlock[];
    const options = [...blockById(blocks, REQUEST_RESOURCE_BLOCK)?.element.options, ...roleBlock(blocks)?.element.options];
    for (const option of options) expect(option.text.text.length).toBeLessThanOrEqual(75);
    expect(options[0].text.text).toMatch(/^N+…$/);
    expect(options[1].text.text).toMatch(/^read — D+…$/);
  });

  it.each([
    { selectedResourceId: 'prod-db', placeholder: 'e.g. 2h (at most 8h)' },
    { selectedResourceId: 'deploy', placeholder: 'e.g. 30m (at most 30m)' },
    { selectedResourceId: undefined, placeholder: 'e.g. 2h' },
  ])('suggests a duration for $selectedResourceId: $placeholder', ({ selectedResourceId, placeholder }) => {
    const input = { resources: [prodDb, deployBot], ...(selectedResourceId ? { selectedResourceId } : {}) };
    const duration = blockById(requestModal(input).blocks, REQUEST_DURATION_BLOCK);
    expect(duration?.element.placeholder.text).toBe(placeholder);
  });

  it('asks for a required reason of at most 1000 characters and an optional ticket of at most 100', () => {
    const { blocks } = requestModal({ resources: [prodDb] });
    const reason = blockById(blocks, REQUEST_REASON_BLOCK);
    const ticket = blockById(blocks, REQUEST_TICKET_BLOCK);
    expect(reason).toMatchObject({ type: 'input', element: { type: 'plain_text_input', multiline: true, max_length: 1000 } });
    expect(reason?.optional).toBeFalsy();
    expect(ticket).toMatchObject({ type: 'input', optional: true, element: { type: 'plain_text_input', max_length: 100 } });
  });

  it('prefills what the person already entered', () => {
    const { blocks } = requestModal({
      resources: [prodDb, deployBot],
      selectedResourceId: 'prod-db',
      values: { role: 'write', duration: '1h', reason: 'Fix the invoice job', ticket: 'OPS-42' },
    });
    expect(roleBlock(blocks)?.element.initial_option).toMatchObject({ value: 'write' });
    expect(blockById(blocks, REQUEST_DURATION_BLOCK)?.element.initial_value).toBe('1h');
    expect(blockById(blocks, REQUEST_REASON_BLOCK)?.element.initial_value).toBe('Fix the invoice job');
    expect(blockById(blocks, REQUEST_TICKET_BLOCK)?.element.initial_value).toBe('OPS-42');
  });

  it("suggests the resource's default duration until the person typed one", () => {
    const withDefault = { ...prodDb, defaultDurationSeconds: HOUR };
    expect(blockById(requestModal({ resources: [withDefault], selectedResourceId: 'prod-db' }).blocks, REQUEST_DURATION_BLOCK)?.element.initial_value).toBe('1h');
    expect(blockById(requestModal({ resources: [withDefault], selectedResourceId: 'prod-db', values: { duration: '20m' } }).blocks, REQUEST_DURATION_BLOCK)?.element.initial_value).toBe('20m');
    expect(blockById(requestModal({ resources: [prodDb], selectedResourceId: 'prod-db' }).blocks, REQUEST_DURATION_BLOCK)?.element.initial_value).toBeUndefined();
  });

  it('offers an optional start time, empty by default and kept when the view is rebuilt', () => {
    const empty = blockById(requestModal({ resources: [prodDb] }).blocks, REQUEST_START_BLOCK);
    expect(empty).toMatchObject({ type: 'input', optional: true, element: { type: 'datetimepicker' } });
    expect(empty?.element.initial_date_time).toBeUndefined();
    const picked = requestModal({ resources: [prodDb], values: { startsAt: new Date('2027-01-15T08:00:00Z') } });
    expect(blockById(picked.blocks, REQUEST_START_BLOCK)?.element.initial_date_time).toBe(1_800_000_000);
  });

  it('does not pre-select a role the selected resource does not have (Slack would refuse the view)', () => {
    const { blocks } = requestModal({ resources: [prodDb, deployBot], selectedResourceId: 'deploy', values: { role: 'write' } });
    expect(roleBlock(blocks)?.element.initial_option).toBeUndefined();
  });

  it('treats a selected resource that is no longer in the policy as none', () => {
    const { blocks } = requestModal({ resources: [prodDb], selectedResourceId: 'gone' });
    expect(blockById(blocks, REQUEST_RESOURCE_BLOCK)?.element.initial_option).toBeUndefined();
    expect(roleBlock(blocks)).toBeUndefined();
  });

  it('stays within the 100 blocks of a modal', () => {
    expect(requestModal({ resources: manyResources(500), selectedResourceId: 'res-1' }).blocks.length).toBeLessThanOrEqual(100);
  });
});

describe('readRequestModal', () => {
  // What Slack sends in view.state.values on view_submission.
  const submitted: ModalStateValues = {
    latch_request_resource: {
      latch_request_resource_select: {
        type: 'static_select',
        selected_option: { text: { type: 'plain_text', text: 'Production database' }, value: 'prod-db' } as { value: string },
      },
    },
    'latch_request_role:prod-db': {
      latch_request_role_select: {
        type: 'static_select',
        selected_option: { text: { type: 'plain_text', text: 'read — Read-only queries' }, value: 'read' } as { value: string },
      },
    },
    latch_request_duration: { latch_request_duration_input: { type: 'plain_text_input', value: ' 2h ' } },
    latch_request_reason: { latch_request_reason_input: { type: 'plain_text_input', value: '  Investigate INC-7\n' } },
    latch_request_ticket: { latch_request_ticket_input: { type: 'plain_text_input', value: 'INC-7' } },
  };

  it('reads every field, trimmed', () => {
    expect(readRequestModal(submitted)).toEqual({
      resourceId: 'prod-db',
      role: 'read',
      duration: '2h',
      reason: 'Investigate INC-7',
      ticket: 'INC-7',
      startsAt: null,
      also: [],
      scope: null,
      scopeText: {},
    });
  });

  it('reads a picked start time from the Unix seconds Slack sends', () => {
    const state: ModalStateValues = {
      ...submitted,
      latch_request_start: { latch_request_start_input: { type: 'datetimepicker', selected_date_time: 1_800_000_000 } },
    };
    expect(readRequestModal(state).startsAt).toEqual(new Date('2027-01-15T08:00:00Z'));
  });

  it('reads a start left empty as "as soon as approved"', () => {
    const state: ModalStateValues = {
      ...submitted,
      latch_request_start: { latch_request_start_input: { type: 'datetimepicker', selected_date_time: null } },
    };
    expect(readRequestModal(state).startsAt).toBeNull();
  });

  it.each([
    { label: 'null', value: null },
    { label: 'blank', value: '   ' },
  ])('reads a $label ticket as no ticket', ({ value }) => {
    const state = { ...submitted, latch_request_ticket: { latch_request_ticket_input: { type: 'plain_text_input', value } } };
    expect(readRequestModal(state).ticket).toBeNull();
  });

  it('leaves out a role that was not chosen', () => {
    const state: ModalStateValues = {
      ...submitted,
      'latch_request_role:prod-db': { latch_request_role_select: { type: 'static_select', selected_option: null } },
    };
    const read = readRequestModal(state);
    expect(read.role).toBeUndefined();
    expect('role' in read).toBe(false);
  });

  it('reads a form that has no role block yet (no resource picked) without failing', () => {
    const state: ModalStateValues = {
      latch_request_resource: { latch_request_resource_select: { type: 'external_select', selected_option: null } },
      latch_request_duration: { latch_request_duration_input: { type: 'plain_text_input', value: null } },
      latch_request_reason: { latch_request_reason_input: { type: 'plain_text_input', value: 'x' } },
    };
    expect(readRequestModal(state)).toEqual({ duration: '', reason: 'x', ticket: null, startsAt: null, also: [], scope: null, scopeText: {} });
  });
});

describe('requestModalErrors', () => {
  it('puts each message on the block a person would correct', () => {
    expect(requestModalErrors({ role: 'Pick a role.', duration: 'At most 8h.', ticket: 'Too long.' }, 'prod-db')).toEqual({
      [requestRoleBlockId('prod-db')]: 'Pick a role.',
      [REQUEST_DURATION_BLOCK]: 'At most 8h.',
      [REQUEST_TICKET_BLOCK]: 'Too long.',
    });
    expect(requestModalErrors({ startsAt: 'Pick a start time in the future.' })).toEqual({ [REQUEST_START_BLOCK]: 'Pick a start time in the future.' });
  });

  it('shows a role error on the resource when there is no role input to show it on', () => {
    expect(requestModalErrors({ resource: 'Pick a resource.', role: 'Pick a role.' })).toEqual({
      [REQUEST_RESOURCE_BLOCK]: 'Pick a resource. Pick a role.',
    });
  });
});

describe('resourceOptions', () => {
  const resources = [prodDb, deployBot, { id: 'staging-db', name: 'Staging database', roles: [] }];

  it.each([
    { query: '', values: ['prod-db', 'deploy', 'staging-db'] },
    { query: 'DATABASE', values: ['prod-db', 'staging-db'] },
    { query: 'deploy', values: ['deploy'] },
    { query: 'staging-', values: ['staging-db'] },
    { query: '  prod ', values: ['prod-db'] },
    { query: 'nothing', values: [] },
  ])('$query → $values', ({ query, values }) => {
    expect(resourceOptions(resources, query).map((option) => option.value)).toEqual(values);
  });

  it('returns at most 100 options', () => {
    expect(resourceOptions(manyResources(250), 'res')).toHaveLength(100);
    expect(resourceOptions(manyResources(250), 'resource 2')).toHaveLength(1 + 10 + 50);
  });
});

describe('scope fields', () => {
  const supportDb: RequestModalResource = {
    id: 'support-db',
    name: 'Support database',
    roles: [
      { id: 'read', maxDurationSeconds: 3600 },
      {
        id: 'debug',
        maxDurationSeconds: 3600,
        scopes: [
          { name: 'customer', description: 'The customer id from the ticket', pattern: '[0-9]+', values: null, minValues: 1, maxValues: 3 },
          { name: 'tables', pattern: null, values: ['public.orders', 'public.invoices'], minValues: 0, maxValues: 2 },
        ],
      },
    ],
  };

  it('offers one optional text field per parameter of the resource, its description as the hint, keeping what was typed', () => {
    const { blocks } = requestModal({ resources: [supportDb], selectedResourceId: 'support-db', values: { scope: { customer: '4711' } } });
    const customer = blockById(blocks, 'latch_request_scope:customer');
    expect(customer).toMatchObject({
      type: 'input',
      optional: true,
      label: { text: 'Scope: customer' },
      hint: { text: 'The customer id from the ticket. Up to 3 values, separated by commas. For debug.' },
      element: { type: 'plain_text_input', action_id: 'latch_request_scope_input', initial_value: '4711' },
    });
    expect(blockById(blocks, 'latch_request_scope:tables')).toMatchObject({ element: { placeholder: { text: 'public.orders, public.invoices' } } });
    // Within Slack's 3000 characters of a text input, however many values a parameter allows.
    const many = requestModal({ resources: [{ ...supportDb, roles: [{ id: 'debug', maxDurationSeconds: 3600, scopes: [{ name: 'customer', pattern: '[0-9]+', values: null, minValues: 1, maxValues: 50 }] }] }], selectedResourceId: 'support-db' });
    expect(blockById(many.blocks, 'latch_request_scope:customer')).toMatchObject({ element: { max_length: 3000 } });
    // A resource without scoped roles has no scope fields.
    expect(requestModal({ resources: [prodDb], selectedResourceId: prodDb.id }).blocks.some((block) => String(block.block_id).startsWith('latch_request_scope:'))).toBe(false);
  });

  it("once a role is picked, shows that role's fields alone, required where the role needs a value", () => {
    const debug = requestModal({ resources: [supportDb], selectedResourceId: 'support-db', values: { role: 'debug', scope: { customer: '4711' } } });
    expect(blockById(debug.blocks, 'latch_request_scope:customer')).toMatchObject({
      optional: false,
      hint: { text: 'The customer id from the ticket. Up to 3 values, separated by commas.' },
      element: { initial_value: '4711' },
    });
    expect(blockById(debug.blocks, 'latch_request_scope:tables')).toMatchObject({ optional: true });
    // A role without a scope: no scope fields at all.
    const read = requestModal({ resources: [supportDb], selectedResourceId: 'support-db', values: { role: 'read', scope: { customer: '4711' } } });
    expect(read.blocks.some((block) => String(block.block_id).startsWith('latch_request_scope:'))).toBe(false);
    // Picking a role rebuilds the form only where roles have scope fields to switch.
    expect(blockById(read.blocks, 'latch_request_role:support-db')).toMatchObject({ dispatch_action: true });
    expect(blockById(requestModal({ resources: [prodDb], selectedResourceId: prodDb.id }).blocks, `latch_request_role:${prodDb.id}`)).not.toHaveProperty('dispatch_action');
  });

  it('reads the fields filled in as a scope, values split at commas, empty fields left out', () => {
    const state: ModalStateValues = {
      'latch_request_scope:customer': { latch_request_scope_input: { type: 'plain_text_input', value: ' 4711, 4712 ,' } },
      'latch_request_scope:tables': { latch_request_scope_input: { type: 'plain_text_input', value: '' } },
      latch_request_reason: { latch_request_reason_input: { type: 'plain_text_input', value: 'x' } },
    };
    expect(readRequestModal(state)).toMatchObject({ scope: { customer: ['4711', '4712'] }, scopeText: { customer: '4711, 4712 ,' } });
  });

  it('shows a parameter\'s problem beside its field, and one about no field beside the role', () => {
    expect(requestModalErrors({ 'scope.customer': 'customer "x" does not match [0-9]+.', scope: 'The role read takes no scope (customer).' }, 'support-db', ['customer', 'tables'])).toEqual({
      'latch_request_scope:customer': 'customer "x" does not match [0-9]+.',
      'latch_request_role:support-db': 'The role read takes no scope (customer).',
    });
    expect(requestModalErrors({ 'scope.tenant': 'Give tenant.' }, 'support-db', ['customer'])).toEqual({ 'latch_request_role:support-db': 'Give tenant.' });
  });
});
