import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../../src/config/policy-file.ts';

/** YAML from lines, so a test can say which line a problem is on by counting the array. */
const yaml = (...lines: string[]) => `${lines.join('\n')}\n`;

// A resource with one scoped role; tests append lines under the role (line 10 on).
const HEAD = [
  'defaults: { maxDuration: 8h, approvalChannel: C0APPROVALS }', //                                           1
  'resources:', //                                                                                             2
  '  - id: support-db', //                                                                                     3
  '    name: Support database', //                                                                             4
  "    provider: { type: webhook, settings: { url: 'https://hooks.example.com/latch', secretEnv: HOOK_SECRET } }", // 5
  '    approvers: { users: [U0ALICE01, U0BOB0001], groups: [S0SECURITY] }', //                                 6
  '    roles:', //                                                                                             7
  '      - id: debug', //                                                                                      8
  '        scopes:', //                                                                                        9
];

function problemsOf(...lines: string[]): string[] {
  const result = parsePolicy(yaml(...HEAD, ...lines));
  if (result.ok) throw new Error('expected the policy to be refused');
  return result.problems;
}

function roleOf(...lines: string[]) {
  const result = parsePolicy(yaml(...HEAD, ...lines));
  if (!result.ok) throw new Error(`expected the policy to be accepted:\n${result.problems.join('\n')}`);
  return result.policy.resources[0]!.roles[0]!;
}

describe('scopes in the policy file', () => {
  it('reads parameters in the order written, with one required value by default', () => {
    const role = roleOf(
      '          customer: { description: Customer id, pattern: "[0-9]+", maxValues: 3 }',
      '          tables: { values: [public.orders, public.orders, public.invoices], minValues: 0, maxValues: 2 }',
      '          region: { pattern: "eu|us" }',
    );
    expect(role.scopes).toEqual([
      { name: 'customer', description: 'Customer id', pattern: '[0-9]+', values: null, minValues: 1, maxValues: 3 },
      { name: 'tables', pattern: null, values: ['public.orders', 'public.invoices'], minValues: 0, maxValues: 2 },
      { name: 'region', pattern: 'eu|us', values: null, minValues: 1, maxValues: 1 },
    ]);
    expect(role.moreApprovers).toBeUndefined();
  });

  it('reads moreApprovers: added approvals and groups that must take part', () => {
    const role = roleOf(
      '          customer: { pattern: "[0-9]+", maxValues: 3 }',
      '          tables: { values: [public.orders, public.payments], minValues: 0 }',
      '        moreApprovers:',
      '          - when: { customer: { moreThan: 1 } }',
      '            add: 1',
      '          - when: { tables: { anyOf: [public.payments] }, customer: { moreThan: 0 } }',
      '            oneFrom: [S0SECURITY]',
    );
    expect(role.moreApprovers).toEqual([
      { when: { customer: { moreThan: 1 } }, add: 1, oneFrom: [] },
      { when: { tables: { anyOf: ['public.payments'] }, customer: { moreThan: 0 } }, add: 0, oneFrom: ['S0SECURITY'] },
    ]);
  });

  it('refuses a parameter that would accept any text, and says how to fix it', () => {
    expect(problemsOf('          customer: { description: Customer id }')).toEqual([
      'resources[0].roles[0].scopes.customer: must give a pattern every value must match, or the values allowed: otherwise any text would be accepted (line 10)',
    ]);
  });

  it('refuses a pattern that does not compile, as it refuses a ticket pattern', () => {
    expect(problemsOf('          customer: { pattern: "[0-9" }')).toEqual([
      'resources[0].roles[0].scopes.customer.pattern: is not a valid regular expression: /[0-9/u: Unterminated character class (line 10)',
    ]);
  });

  it('refuses a parameter name that could not be typed as name=value', () => {
    expect(problemsOf('          Customer-Id: { pattern: "[0-9]+" }')).toEqual([
      'resources[0].roles[0].scopes.Customer-Id: "Customer-Id" is not a parameter name: up to 32 lowercase letters, digits and "_", starting with a letter (it is typed as name=value) (line 10)',
    ]);
  });

  it('refuses limits that contradict each other, allowed values outside the pattern, and a mistyped field', () => {
    expect(problemsOf('          customer: { pattern: "[0-9]+", minValues: 2 }')).toEqual(['resources[0].roles[0].scopes.customer.minValues: minValues (2) is more than maxValues (1) (line 10)']);
    expect(problemsOf('          tables:', '            pattern: "public\\\\.[a-z_]+"', '            values: [public.orders, secret.keys]')).toEqual([
      'resources[0].roles[0].scopes.tables.values[1]: "secret.keys" does not match this parameter\'s pattern public\\.[a-z_]+, so it could never be asked for (line 12)',
    ]);
    expect(problemsOf('          customer: { patern: "[0-9]+" }')).toEqual(['resources[0].roles[0].scopes.customer: unknown field "patern"; did you mean "pattern"? (line 10)']);
  });

  it('refuses moreApprovers naming a parameter the role does not have, with its path and line', () => {
    expect(
      problemsOf('          customer: { pattern: "[0-9]+", maxValues: 3 }', '        moreApprovers:', '          - when: { tenant: { moreThan: 1 } }', '            add: 1'),
    ).toEqual(['resources[0].roles[0].moreApprovers[0].when.tenant: "tenant" is not a scope parameter of this role; its parameters are customer (line 12)']);
  });

  it('refuses moreApprovers rules that could never apply or ask for nothing', () => {
    expect(
      problemsOf(
        '          customer: { pattern: "[0-9]+", maxValues: 2 }',
        '          tables: { values: [public.orders] }',
        '        moreApprovers:',
        '          - when: { customer: { moreThan: 2 } }', //                                               13
        '            add: 1',
        '          - when: { tables: { anyOf: [public.secrets] } }', //                                     15
        '            add: 1',
        '          - when: { customer: { moreThan: 1 } }', //                                               17
        '          - when: { customer: { moreThan: 1 } }', //                                               18
        '            oneFrom: [S0NOTAPPROVER]',
      ),
    ).toEqual([
      'resources[0].roles[0].moreApprovers[0].when.customer.moreThan: can never hold: customer takes at most 2 values (line 13)',
      'resources[0].roles[0].moreApprovers[1].when.tables.anyOf[0]: "public.secrets" is not a value tables allows, so this rule could never apply (line 15)',
      'resources[0].roles[0].moreApprovers[2]: must say what more it needs: add (approvals) and/or oneFrom (user groups) (line 17)',
      'resources[0].roles[0].moreApprovers[3].oneFrom[0]: S0NOTAPPROVER is not in approvers.groups: only approvers may approve, so add it there too (line 19)',
    ]);
  });

  it('refuses an add that named approvers alone could never reach', () => {
    const text = yaml(
      ...HEAD.slice(0, 5),
      '    approvers: { users: [U0ALICE01, U0BOB0001] }', //                6
      ...HEAD.slice(6),
      '          customer: { pattern: "[0-9]+", maxValues: 3 }', //         10
      '        moreApprovers:',
      '          - when: { customer: { moreThan: 1 } }',
      '            add: 2', //                                               13
    );
    expect(parsePolicy(text)).toEqual({
      ok: false,
      problems: ['resources[0].roles[0].moreApprovers[0].add: needs 3 approvals in all but approvers lists only 2 users and no groups, so such a request could never be approved (line 13)'],
    });
  });

  it('refuses moreApprovers on a role without scopes', () => {
    const text = yaml(...HEAD.slice(0, 8), '        moreApprovers:', '          - when: { customer: { moreThan: 1 } }', '            add: 1');
    const result = parsePolicy(text);
    expect(result).toEqual({ ok: false, problems: ['resources[0].roles[0].moreApprovers: needs scopes on this role: moreApprovers rules look at the scope a request asks for (line 9)'] });
  });
});
