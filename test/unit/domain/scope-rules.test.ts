import { describe, expect, it } from 'vitest';
import { checkScope, formatScope, parseScopeToken, readStoredScope, sameScope, scopeApprovals, scopeFromTokens, type ScopedRole } from '../../../src/domain/scope-rules.ts';

const DEBUG: ScopedRole = {
  id: 'debug',
  scopes: [
    { name: 'customer', pattern: '^[0-9]+$', values: null, minValues: 1, maxValues: 2 },
    { name: 'tables', pattern: null, values: ['public.orders', 'public.invoices', 'public.payments'], minValues: 0, maxValues: 2 },
  ],
  moreApprovers: [
    { when: { customer: { moreThan: 1 } }, add: 1, oneFrom: [] },
    { when: { tables: { anyOf: ['public.payments'] } }, add: 0, oneFrom: ['S0SECURITY'] },
  ],
};

describe('checkScope', () => {
  it('gives back the scope trimmed, deduplicated and in the policy order, dropping an empty optional parameter', () => {
    expect(checkScope(DEBUG, { tables: [' public.orders', 'public.orders'], customer: ['4711 ', '4712', '4711'] })).toEqual({
      ok: true,
      scope: { customer: ['4711', '4712'], tables: ['public.orders'] },
    });
    expect(checkScope(DEBUG, { customer: ['4711'], tables: [] })).toEqual({ ok: true, scope: { customer: ['4711'] } });
  });

  it('says which value does not match the pattern, anchored to the whole value', () => {
    expect(checkScope(DEBUG, { customer: ['47x1'] })).toMatchObject({ ok: false, problems: ['customer "47x1" does not match ^[0-9]+$.'] });
    const unanchored: ScopedRole = { id: 'r', scopes: [{ name: 'customer', pattern: '[0-9]+', values: null, minValues: 1, maxValues: 1 }] };
    expect(checkScope(unanchored, { customer: ['4711; DROP TABLE x'] })).toMatchObject({ ok: false, problems: ['customer "4711; DROP TABLE x" does not match [0-9]+.'] });
    expect(checkScope(unanchored, { customer: ['4711'] })).toEqual({ ok: true, scope: { customer: ['4711'] } });
  });

  it('says which value is not on the allow-list, and how many values are too many', () => {
    expect(checkScope(DEBUG, { customer: ['1'], tables: ['public.secrets'] })).toMatchObject({
      ok: false,
      problems: ['tables: public.secrets is not one of public.orders, public.invoices, public.payments.'],
    });
    expect(checkScope(DEBUG, { customer: ['1', '2', '3'] })).toMatchObject({ ok: false, problems: ['At most 2 values of customer (3 given).'] });
  });

  it('requires the required parameters, and refuses parameters the role does not have', () => {
    expect(checkScope(DEBUG, null)).toMatchObject({ ok: false, problems: ['Give customer: the role debug is only granted for a customer matching ^[0-9]+$.'] });
    expect(checkScope(DEBUG, { customer: ['1'], tenant: ['x'] })).toMatchObject({ ok: false, problems: ['The role debug has no scope parameter "tenant"; its parameters are customer, tables.'] });
  });

  it('says each problem again under the parameter it is about, for a form', () => {
    expect(checkScope(DEBUG, { customer: ['x', '1', '2', '3'], tables: ['public.secrets'], tenant: ['1'] })).toEqual({
      ok: false,
      problems: [
        'The role debug has no scope parameter "tenant"; its parameters are customer, tables.',
        'customer "x" does not match ^[0-9]+$.',
        'tables: public.secrets is not one of public.orders, public.invoices, public.payments.',
      ],
      fields: {
        '': 'The role debug has no scope parameter "tenant"; its parameters are customer, tables.',
        customer: 'customer "x" does not match ^[0-9]+$.',
        tables: 'tables: public.secrets is not one of public.orders, public.invoices, public.payments.',
      },
    });
  });

  it('refuses any scope on a role without scopes, and accepts none', () => {
    expect(checkScope({ id: 'read' }, { customer: ['4711'] })).toMatchObject({ ok: false, problems: ['The role read takes no scope (customer): leave it out to ask for the whole role.'] });
    expect(checkScope({ id: 'read' }, {})).toEqual({ ok: true, scope: null });
    expect(checkScope({ id: 'read' }, undefined)).toEqual({ ok: true, scope: null });
  });

  it('refuses control characters, overlong values and values that are not text', () => {
    const anyText: ScopedRole = { id: 'r', scopes: [{ name: 'note', pattern: '.*', values: null, minValues: 1, maxValues: 5 }] };
    expect(checkScope(anyText, { note: ['a\u0000b'] })).toMatchObject({ ok: false, problems: ['A value of note contains a control character.'] });
    expect(checkScope(anyText, { note: ['a\u2028b'] })).toMatchObject({ ok: false, problems: ['A value of note contains a control character.'] });
    expect(checkScope(anyText, { note: ['x'.repeat(101)] })).toMatchObject({ ok: false, problems: ['A value of note is longer than 100 characters.'] });
    expect(checkScope(anyText, { note: [42] })).toMatchObject({ ok: false, problems: ['Each value of note must be text.'] });
    expect(checkScope(anyText, { note: 'x' as unknown as string[] })).toMatchObject({ ok: false, problems: ['note must be a list of values.'] });
  });

  it('treats a value shaped like SQL as just a value, checked like any other', () => {
    const tables: ScopedRole = { id: 'r', scopes: [{ name: 'tables', pattern: null, values: ['public.orders'], minValues: 1, maxValues: 1 }] };
    expect(checkScope(tables, { tables: ['public.orders; DROP TABLE public.orders'] })).toMatchObject({ ok: false });
    expect(checkScope(tables, { tables: ['"public"."orders"'] })).toMatchObject({ ok: false });
  });

  it('is not fooled by names from the object prototype', () => {
    expect(checkScope(DEBUG, JSON.parse('{"customer":["1"],"__proto__":["x"]}'))).toMatchObject({ ok: false });
    expect(checkScope(DEBUG, { customer: ['1'], constructor: ['x'] })).toMatchObject({ ok: false });
    expect(scopeFromTokens([{ name: 'constructor', values: ['1'] }])).toEqual({ constructor: ['1'] });
  });
});

describe('scopeApprovals', () => {
  it('adds approvals and groups for the scopes that need them, and nothing otherwise', () => {
    expect(scopeApprovals(DEBUG, { customer: ['4711'] })).toEqual({ add: 0, oneFrom: [] });
    expect(scopeApprovals(DEBUG, { customer: ['4711', '4712'] })).toEqual({ add: 1, oneFrom: [] });
    expect(scopeApprovals(DEBUG, { customer: ['4711', '4712'], tables: ['public.payments'] })).toEqual({ add: 1, oneFrom: ['S0SECURITY'] });
    expect(scopeApprovals(DEBUG, null)).toEqual({ add: 0, oneFrom: [] });
    expect(scopeApprovals({ id: 'read' }, null)).toEqual({ add: 0, oneFrom: [] });
  });

  it('needs every condition of a rule to hold', () => {
    const both: ScopedRole = { ...DEBUG, moreApprovers: [{ when: { customer: { moreThan: 1 }, tables: { anyOf: ['public.payments'] } }, add: 2, oneFrom: [] }] };
    expect(scopeApprovals(both, { customer: ['1', '2'] })).toEqual({ add: 0, oneFrom: [] });
    expect(scopeApprovals(both, { customer: ['1', '2'], tables: ['public.payments'] })).toEqual({ add: 2, oneFrom: [] });
  });
});

describe('showing and reading scopes', () => {
  it('formats a scope for people', () => {
    expect(formatScope({ customer: ['4711', '4712'], tables: ['public.orders'] })).toBe('customer 4711, 4712 · tables public.orders');
    // The order of the names, not of the keys: jsonb gives them back in an order of its own.
    expect(formatScope({ tables: ['public.orders'], customer: ['4711'] })).toBe('customer 4711 · tables public.orders');
    expect(formatScope(null)).toBe('');
  });

  it('compares scopes whatever the order', () => {
    expect(sameScope({ a: ['1', '2'], b: ['x'] }, { b: ['x'], a: ['2', '1'] })).toBe(true);
    expect(sameScope({ a: ['1'] }, { a: ['1', '2'] })).toBe(false);
    expect(sameScope(null, {})).toBe(true);
  });

  it('reads a stored scope, and calls anything else invalid', () => {
    expect(readStoredScope({ customer: ['4711'] })).toEqual({ customer: ['4711'] });
    expect(readStoredScope(null)).toBeNull();
    expect(readStoredScope({})).toBeNull();
    expect(readStoredScope({ customer: [1] })).toBe('invalid');
    expect(readStoredScope(['4711'])).toBe('invalid');
  });

  it('parses name=value tokens of the inline command', () => {
    expect(parseScopeToken('customer=4711,4712')).toEqual({ name: 'customer', values: ['4711', '4712'] });
    expect(parseScopeToken('tables=public.orders')).toEqual({ name: 'tables', values: ['public.orders'] });
    expect(parseScopeToken('customer=')).toEqual({ name: 'customer', values: [] });
    expect(parseScopeToken('Fix=it')).toBeNull();
    expect(parseScopeToken('fixing')).toBeNull();
    expect(scopeFromTokens([{ name: 'customer', values: ['1'] }, { name: 'customer', values: ['2'] }])).toEqual({ customer: ['1', '2'] });
  });
});
