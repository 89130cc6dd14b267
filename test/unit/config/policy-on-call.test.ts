import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../../src/config/policy-file.ts';

// One valid resource with an on-call rule; its lines are numbered on the right.
const base = (...onCall: string[]) =>
  [
    'defaults:', //                                 1
    '  maxDuration: 8h', //                         2
    '  approvalChannel: C0APPROVALS', //            3
    'resources:', //                                4
    '  - id: prod-db', //                           5
    '    name: Production database', //             6
    "    provider: { type: webhook, settings: { url: 'https://hooks.example.com/latch', secretEnv: HOOK_SECRET } }", // 7
    '    roles: [read, write]', //                  8
    '    approvers: { users: [U0ALICE01] }', //     9
    '    autoApprove:', //                          10
    '      - name: on-call-read', //                11
    '        roles: [read]', //                     12
    '        onCall:', //                           13
    ...onCall, //                                   14…
  ].join('\n') + '\n';

function problemsOf(text: string): string[] {
  const result = parsePolicy(text);
  if (result.ok) throw new Error('expected the policy to be refused');
  return result.problems;
}

describe('autoApprove[].onCall in the policy file', () => {
  it('reads schedules, escalation policies, levels and incident services', () => {
    const result = parsePolicy(base('          provider: pagerduty', '          schedules: [PSCHED1, PSCHED1]', '          escalationPolicies: [PPOL1]', '          maxLevel: 2', '          incidentOpenOn: [PSVC1]'));
    expect(result.ok && result.policy.resources[0]!.autoApprove[0]!.onCall).toEqual({ provider: 'pagerduty', schedules: ['PSCHED1'], escalationPolicies: ['PPOL1'], maxLevel: 2, incidentOpenOn: ['PSVC1'] });
  });

  it('leaves a rule without onCall free of the condition', () => {
    const text = base('          provider: opsgenie', '          schedules: [0b6b4c43-0a5f-4c38-a6a8-36e3b9b4a7c1]').replace('        onCall:\n          provider: opsgenie\n          schedules: [0b6b4c43-0a5f-4c38-a6a8-36e3b9b4a7c1]\n', '');
    const result = parsePolicy(text);
    expect(result.ok && result.policy.resources[0]!.autoApprove[0]).not.toHaveProperty('onCall');
  });

  it.each([
    { label: 'an API key', lines: ['          provider: pagerduty', '          schedules: [PSCHED1]', '          apiKey: u+abcdef'], problem: 'resources[0].autoApprove[0].onCall.apiKey: must not be in the policy file: Latch reads the API key from PAGERDUTY_API_KEY or OPSGENIE_API_KEY in its environment (line 16)' },
    { label: 'no provider', lines: ['          schedules: [PSCHED1]'], problem: 'resources[0].autoApprove[0].onCall.provider: is missing: say which on-call service to ask, pagerduty or opsgenie (line 13)' },
    { label: 'an unknown provider', lines: ['          provider: victorops', '          schedules: [PSCHED1]'], problem: 'resources[0].autoApprove[0].onCall.provider: must be one of pagerduty, opsgenie (line 14)' },
    { label: 'nothing to wait for', lines: ['          provider: pagerduty'], problem: 'resources[0].autoApprove[0].onCall: must name schedules, escalationPolicies and/or incidentOpenOn: without one it would wait for nothing (line 13)' },
    { label: 'a schedule name instead of an id', lines: ['          provider: pagerduty', "          schedules: ['Primary on call']"], problem: 'resources[0].autoApprove[0].onCall.schedules[0]: must be an id such as PABC123 (PagerDuty) or a UUID (Opsgenie): letters, digits and "-", not a name (line 15)' },
    { label: 'escalation policies with Opsgenie', lines: ['          provider: opsgenie', '          escalationPolicies: [PPOL1]'], problem: "resources[0].autoApprove[0].onCall.escalationPolicies: is PagerDuty's: with Opsgenie, name the schedules whose on-call people it covers (line 15)" },
    { label: 'level 0', lines: ['          provider: pagerduty', '          escalationPolicies: [PPOL1]', '          maxLevel: 0'], problem: 'resources[0].autoApprove[0].onCall.maxLevel: must be a whole number, 1 or more (1 is the first escalation level) (line 16)' },
    { label: 'a typo', lines: ['          provider: pagerduty', '          schedule: [PSCHED1]'], problem: 'resources[0].autoApprove[0].onCall: unknown field "schedule"; did you mean "schedules"? (line 15)' },
  ])('refuses $label, naming the field and its line', ({ lines, problem }) => {
    expect(problemsOf(base(...lines))).toContain(problem);
  });
});

describe('approvers.onCall in the policy file', () => {
  const withApprovers = (...approvers: string[]) =>
    [
      'defaults: { maxDuration: 8h, approvalChannel: C0APPROVALS }',
      'resources:',
      '  - id: prod-db',
      '    name: Production database',
      "    provider: { type: webhook, settings: { url: 'https://hooks.example.com/latch', secretEnv: HOOK_SECRET } }",
      '    roles: [read]',
      '    approvers:', //                    line 7
      ...approvers,
    ].join('\n') + '\n';

  it('lets whoever is on call approve, with or without named approvers, and any number of approvals', () => {
    const result = parsePolicy(withApprovers('      required: 2', '      onCall: { provider: opsgenie, schedules: [5f2b1c3e-aaaa-4bbb-8ccc-000000000001] }'));
    expect(result.ok && result.policy.resources[0]!.approvers).toEqual({
      users: [],
      groups: [],
      required: 2,
      oneFrom: [],
      onCall: { provider: 'opsgenie', schedules: ['5f2b1c3e-aaaa-4bbb-8ccc-000000000001'], escalationPolicies: [], maxLevel: null, incidentOpenOn: [] },
    });
  });

  it('refuses an incident alone, which would make everyone an approver while it is open', () => {
    const result = parsePolicy(withApprovers('      users: [U0ALICE01]', '      onCall: { provider: pagerduty, incidentOpenOn: [PSVC1] }'));
    expect(result.ok ? [] : result.problems).toEqual([
      'resources[0].approvers.onCall: must name schedules or escalationPolicies: whoever is on call there may approve (incidentOpenOn alone would let anyone) (line 9)',
    ]);
  });
});
