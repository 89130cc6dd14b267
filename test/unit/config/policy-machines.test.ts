import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../../src/config/policy-file.ts';
import { machineRequesterId } from '../../../src/domain/machine.ts';
import { isInAudience, type Policy } from '../../../src/domain/policy.ts';

const yaml = (...lines: string[]) => `${lines.join('\n')}\n`;

// A machine, a resource it may request, and the lines each test changes. Lines on the right.
function policyText({ machine = MACHINE, requesters = '    requesters: { users: [U0ALICE01], machines: [deploy-pipeline] }', approvers = APPROVERS, extra = [] as string[] } = {}): string {
  return yaml(
    'machines:', //                                               1
    ...machine, //                                                2-5
    'resources:',
    '  - id: prod-db',
    '    name: Production database',
    "    provider: { type: webhook, settings: { url: 'https://hooks.example.com/latch', secretEnv: HOOK_SECRET } }",
    '    maxDuration: 8h',
    '    approvalChannel: C0APPROVALS',
    '    roles: [read]',
    requesters,
    ...approvers,
    ...extra,
  );
}

const MACHINE = ['  - id: deploy-pipeline', '    owner: { user: U0OWNER01 }', '    authentication: token', '    account: deploy_bot'];
const APPROVERS = ['    approvers:', '      users: [U0ALICE01]'];

function policyOf(text: string): Policy {
  const result = parsePolicy(text);
  if (!result.ok) throw new Error(`expected the policy to be accepted:\n${result.problems.join('\n')}`);
  return result.policy;
}

function problemsOf(text: string): string[] {
  const result = parsePolicy(text);
  if (result.ok) throw new Error('expected the policy to be refused');
  return result.problems;
}

describe('machines in the policy file', () => {
  it('reads a machine with its owner, authentication and account, and the resources naming it', () => {
    const policy = policyOf(policyText());
    expect(policy.machines).toEqual([{ id: 'deploy-pipeline', owner: { user: 'U0OWNER01' }, authentication: { type: 'token' }, account: 'deploy_bot' }]);
    expect(policy.resources[0]!.requesters).toEqual({ everyone: false, users: ['U0ALICE01'], groups: [], machines: ['deploy-pipeline'] });
  });

  it('takes a user group as the owner', () => {
    const machine = [...MACHINE];
    machine[1] = '    owner: { group: S0PLATFORM }';
    expect(policyOf(policyText({ machine })).machines[0]!.owner).toEqual({ group: 'S0PLATFORM' });
  });

  it('puts a machine in an audience only where it is named: everyone means people', () => {
    const policy = policyOf(policyText({ extra: ['    autoApprove:', '      - name: people-only'] }));
    const deploy = machineRequesterId('deploy-pipeline');
    expect(isInAudience(policy.resources[0]!.requesters, deploy, new Set())).toBe(true);
    expect(isInAudience(policy.resources[0]!.autoApprove[0]!.requesters, deploy, new Set())).toBe(false);
    expect(isInAudience(policy.resources[0]!.requesters, machineRequesterId('other-bot'), new Set())).toBe(false);
  });

  it('refuses a machine without an owner, authentication or account, naming each', () => {
    expect(problemsOf(policyText({ machine: ['  - id: deploy-pipeline'] }))).toEqual([
      'machines[0].owner: is missing: name the person who answers for this machine, as user: U012ABCDEF or group: S0123ABCD (line 2)',
      'machines[0].authentication: is missing: say how the machine proves who it is (token, oidc) (line 2)',
      'machines[0].account: is missing: give the account providers grant to for this machine, such as deploy_bot (line 2)',
    ]);
  });

  it('refuses an owner that is not a Slack user or group, and an unknown authentication', () => {
    const machine = [...MACHINE];
    machine[1] = '    owner: { user: alice }';
    machine[2] = '    authentication: password';
    expect(problemsOf(policyText({ machine }))).toEqual([
      'machines[0].owner.user: must be a Slack user id such as U012ABCDEF, not a name (in Slack: profile → ⋮ → Copy member ID) (line 3)',
      'machines[0].authentication: must be one of token, oidc (line 4)',
    ]);
  });

  it('refuses two machines with one id', () => {
    expect(problemsOf(policyText({ machine: [...MACHINE, ...MACHINE] }))).toEqual(['machines[1].id: "deploy-pipeline" is already the id of machines[0] (line 6)']);
  });

  it('refuses a requester list naming a machine the policy does not have', () => {
    expect(problemsOf(policyText({ requesters: '    requesters: { machines: [deploy-pipline] }' }))).toEqual([
      'resources[0].requesters.machines[0]: names no machine "deploy-pipline": the machines are deploy-pipeline (line 13)',
    ]);
  });

  it('never lets a machine approve, be a security admin or use break-glass', () => {
    expect(problemsOf(policyText({ approvers: ['    approvers:', '      users: [U0ALICE01]', '      machines: [deploy-pipeline]'] }))).toEqual([
      'resources[0].approvers.machines: machines can never approve: only people (users and groups) can (line 16)',
    ]);
    expect(problemsOf(yaml(policyText(), 'security:', '  admins: { machines: [deploy-pipeline] }'))).toContain(
      'security.admins.machines: machines can never be security admins: only people (users and groups) can (line 18)',
    );
    expect(
      problemsOf(policyText({ extra: ['    breakGlass:', '      requesters: { users: [U0ALICE01], machines: [deploy-pipeline] }', '      maxDuration: 1h', '      reviewWithin: 1d'] })),
    ).toEqual(['resources[0].breakGlass.requesters.machines: machines can never use break-glass: only people (users and groups) can (line 17)']);
  });

  it('keeps a machine out of approvers even as a user id: only Slack ids are accepted there', () => {
    const problems = problemsOf(policyText({ approvers: ['    approvers:', "      users: ['machine:deploy-pipeline']"] }));
    expect(problems[0]).toMatch(/^resources\[0\]\.approvers\.users\[0\]: must be a Slack user id/);
  });

  describe('a machine whose owner would be the only approver', () => {
    const ownedByGroup = () => {
      const machine = [...MACHINE];
      machine[1] = '    owner: { group: S0PLATFORM }';
      return machine;
    };

    it('refuses a policy where nobody but its owner could approve what it asks, saying what to change', () => {
      expect(problemsOf(policyText({ approvers: ['    approvers:', '      users: [U0OWNER01]'] }))).toEqual([
        "resources[0].requesters.machines[0]: deploy-pipeline's requests need 1 approval, but its owner U0OWNER01 may not approve them and approvers then leaves 0 users and no groups, so they could never be approved: add approvers or give the machine another owner (line 13)",
      ]);
      // Two approvals from the owner and one other person: as impossible.
      expect(problemsOf(policyText({ approvers: ['    approvers:', '      users: [U0OWNER01, U0ALICE01]', '      required: 2'] }))[0]).toContain("deploy-pipeline's requests need 2 approvals, but its owner U0OWNER01 may not approve them and approvers then leaves 1 user and no groups");
    });

    it('refuses one owned by a user group that is the only approver group, or one oneFrom needs', () => {
      expect(problemsOf(policyText({ machine: ownedByGroup(), approvers: ['    approvers:', '      groups: [S0PLATFORM]'] }))).toEqual([
        "resources[0].requesters.machines[0]: deploy-pipeline's requests need 1 approval, but the members of its owner group S0PLATFORM may not approve them and approvers then leaves 0 users and no groups, so they could never be approved: add approvers or give the machine another owner (line 13)",
      ]);
      expect(problemsOf(policyText({ machine: ownedByGroup(), approvers: ['    approvers:', '      users: [U0ALICE01]', '      groups: [S0PLATFORM, S0SECURITY]', '      oneFrom: [S0PLATFORM]'] }))).toEqual([
        'resources[0].requesters.machines[0]: deploy-pipeline needs an approval from S0PLATFORM (approvers.oneFrom), but the members of its owner group S0PLATFORM may not approve its requests, so they could never be approved: give the machine another owner or take S0PLATFORM out of oneFrom (line 13)',
      ]);
    });

    it('accepts an owner among approvers who can outvote them: another user, another group, or whoever is on call', () => {
      policyOf(policyText({ approvers: ['    approvers:', '      users: [U0OWNER01, U0ALICE01]'] }));
      policyOf(policyText({ machine: ownedByGroup(), approvers: ['    approvers:', '      groups: [S0PLATFORM, S0SECURITY]'] }));
      policyOf(policyText({ approvers: ['    approvers:', '      users: [U0OWNER01]', '      onCall: { provider: pagerduty, schedules: [P0SCHED] }'] }));
      // People asking are judged as before: the owner may approve a person's request.
      policyOf(policyText({ requesters: '    requesters: { users: [U0ALICE01] }', approvers: ['    approvers:', '      users: [U0OWNER01]'] }));
    });
  });
});
