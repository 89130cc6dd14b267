import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../../src/config/policy-file.ts';

const yaml = (...lines: string[]) => `${lines.join('\n')}\n`;

// An OIDC machine (lines 2-…) and a resource it may request.
function policyText(machine: string[]): string {
  return yaml(
    'machines:',
    '  - id: deploy-pipeline',
    '    owner: { user: U0OWNER01 }',
    ...machine,
    '    account: deploy_bot',
    'resources:',
    '  - id: prod-db',
    '    name: Production database',
    "    provider: { type: webhook, settings: { url: 'https://hooks.example.com/latch', secretEnv: HOOK_SECRET } }",
    '    maxDuration: 4h',
    '    approvalChannel: C0APPROVALS',
    '    roles: [read]',
    '    requesters: { machines: [deploy-pipeline] }',
    '    approvers: { users: [U0ALICE01] }',
  );
}

function problemsOf(text: string): string[] {
  const result = parsePolicy(text);
  if (result.ok) throw new Error('expected the policy to be refused');
  return result.problems;
}

describe('machines with workload identity (OIDC) in the policy file', () => {
  it("reads the audience and claims, GitHub Actions' issuer by default, one value or a list", () => {
    const result = parsePolicy(
      policyText([
        '    authentication: oidc',
        '    oidc:',
        '      audience: https://latch.example.com',
        '      claims:',
        '        repository: octo-org/deploy',
        "        ref: [refs/heads/main, 'refs/tags/v*']",
      ]),
    );
    if (!result.ok) throw new Error(result.problems.join('\n'));
    expect(result.policy.machines[0]!.authentication).toEqual({
      type: 'oidc',
      issuer: 'https://token.actions.githubusercontent.com',
      audience: 'https://latch.example.com',
      claims: { repository: ['octo-org/deploy'], ref: ['refs/heads/main', 'refs/tags/v*'] },
    });
  });

  it('takes another issuer, and plain HTTP only on loopback', () => {
    const machine = (issuer: string) => ['    authentication: oidc', '    oidc:', `      issuer: ${issuer}`, '      audience: latch', '      claims: { project_path: group/app }'];
    const result = parsePolicy(policyText(machine('https://gitlab.example.com')));
    expect(result.ok && result.policy.machines[0]!.authentication).toMatchObject({ issuer: 'https://gitlab.example.com' });
    expect(parsePolicy(policyText(machine('http://127.0.0.1:4000'))).ok).toBe(true);
    expect(problemsOf(policyText(machine('http://gitlab.example.com')))).toEqual(['machines[0].oidc.issuer: must be an https:// URL (plain http only on loopback, for tests) (line 6)']);
  });

  it('says what is missing: the oidc section, its audience, its claims', () => {
    expect(problemsOf(policyText(['    authentication: oidc']))).toEqual([
      'machines[0].oidc: is missing: a machine with authentication: oidc says which tokens are its own (audience and claims) (line 2)',
    ]);
    expect(problemsOf(policyText(['    authentication: oidc', '    oidc:', '      claims: { repository: octo-org/deploy }']))).toEqual([
      'machines[0].oidc.audience: is missing: give the audience the job asks its OIDC token for, such as https://latch.example.com (line 5)',
    ]);
    const noClaims = problemsOf(policyText(['    authentication: oidc', '    oidc:', '      audience: latch', '      claims: {}']));
    expect(noClaims).toEqual(['machines[0].oidc.claims: must match at least one claim, such as repository: octo-org/deploy: without one, any token with this audience would do (line 7)']);
  });

  it('refuses GitHub rules any repository could meet, an empty value, an unknown field and oidc on a token machine', () => {
    const base = ['    authentication: oidc', '    oidc:', '      audience: latch'];
    expect(problemsOf(policyText([...base, '      claims: { ref: refs/heads/main }']))[0]).toMatch(/^machines\[0\]\.oidc\.claims: must match repository .* any GitHub repository can ask/);
    expect(problemsOf(policyText([...base, "      claims: { repository: '*/deploy' }"]))[0]).toMatch(/any GitHub repository/);
    expect(problemsOf(policyText([...base, "      claims: { repository: '' }"]))).toContain('machines[0].oidc.claims.repository: must not be empty (line 7)');
    expect(problemsOf(policyText([...base, '      claims: { repository: octo-org/deploy }', '      audiences: [x]']))).toEqual(['machines[0].oidc: unknown field "audiences"; did you mean "audience"? (line 8)']);
    expect(problemsOf(policyText(['    authentication: token', '    oidc: { audience: latch, claims: { repository: octo-org/deploy } }']))).toEqual([
      'machines[0].oidc: is only for a machine with authentication: oidc (line 5)',
    ]);
  });

  it('refuses two machines with the same rules, whose tokens would match both', () => {
    const text = policyText(['    authentication: oidc', '    oidc: { audience: latch, claims: { repository: octo-org/deploy, ref: [b, a] } }']).replace(
      'resources:',
      ['  - id: deploy-copy', '    owner: { user: U0OWNER01 }', '    authentication: oidc', '    oidc: { audience: latch, claims: { ref: [a, b], repository: octo-org/deploy } }', '    account: deploy_copy', 'resources:'].join('\n'),
    );
    expect(problemsOf(text)).toEqual(['machines[1].oidc: has the same issuer, audience and claims as machines[0]: a token would match both, and is then refused (line 10)']);
  });
});
