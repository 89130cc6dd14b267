import { describe, expect, it } from 'vitest';
import type { MachinePolicy, OidcAuthentication } from '../../../src/domain/machine.ts';
import { claimMatches, GITHUB_ACTIONS_ISSUER, issuerUrlProblem, machinesForWorkload, trustedIssuers, unpinnedGithubProblem, workloadMatches, type VerifiedWorkload } from '../../../src/domain/oidc-claims.ts';

const DEPLOY: OidcAuthentication = {
  type: 'oidc',
  issuer: GITHUB_ACTIONS_ISSUER,
  audience: 'https://latch.example.com',
  claims: { repository: ['octo-org/deploy'], ref: ['refs/heads/main', 'refs/tags/v*'], environment: ['production'] },
};

const workload = (claims: Record<string, unknown>, overrides: Partial<VerifiedWorkload> = {}): VerifiedWorkload => ({
  issuer: GITHUB_ACTIONS_ISSUER,
  audiences: ['https://latch.example.com'],
  claims: { repository: 'octo-org/deploy', ref: 'refs/heads/main', environment: 'production', ...claims },
  ...overrides,
});

describe('claim patterns', () => {
  it('matches exact text only, not a prefix, a suffix or another case', () => {
    expect(claimMatches('octo-org/deploy', 'octo-org/deploy')).toBe(true);
    expect(claimMatches('octo-org/deploy', 'octo-org/deploy-fork')).toBe(false);
    expect(claimMatches('octo-org/deploy', 'evil/octo-org/deploy')).toBe(false);
    expect(claimMatches('octo-org/deploy', 'Octo-Org/Deploy')).toBe(false);
  });

  it('lets * stand for a run of characters within one path segment, and ** across segments', () => {
    expect(claimMatches('refs/heads/release/*', 'refs/heads/release/1.2')).toBe(true);
    expect(claimMatches('refs/heads/release/*', 'refs/heads/release/1.2/hotfix')).toBe(false);
    expect(claimMatches('refs/heads/release/**', 'refs/heads/release/1.2/hotfix')).toBe(true);
    expect(claimMatches('octo-org/*', 'octo-org/deploy')).toBe(true);
    expect(claimMatches('octo-org/*', 'octo-org-evil/deploy')).toBe(false);
  });

  it('treats the other characters of a pattern literally, regular expression ones included', () => {
    expect(claimMatches('refs/tags/v1.0', 'refs/tags/v1x0')).toBe(false);
    expect(claimMatches('a+b', 'aab')).toBe(false);
    expect(claimMatches('(x|y)', 'x')).toBe(false);
    expect(claimMatches('(x|y)', '(x|y)')).toBe(true);
  });

  it('never matches a claim that is not text', () => {
    expect(claimMatches('1', 1)).toBe(false);
    expect(claimMatches('*', ['a'])).toBe(false);
    expect(claimMatches('*', undefined)).toBe(false);
  });
});

describe('matching a workload to a machine', () => {
  it('accepts a token whose issuer, audience and every claim fit', () => {
    expect(workloadMatches(DEPLOY, workload({}))).toBe(true);
    expect(workloadMatches(DEPLOY, workload({ ref: 'refs/tags/v2.0.1' }))).toBe(true);
    expect(workloadMatches(DEPLOY, workload({}, { audiences: ['other', 'https://latch.example.com'] }))).toBe(true);
  });

  it('refuses another issuer, another audience, a claim that does not fit and a missing claim', () => {
    expect(workloadMatches(DEPLOY, workload({}, { issuer: 'https://issuer.example.com' }))).toBe(false);
    expect(workloadMatches(DEPLOY, workload({}, { audiences: ['https://other.example.com'] }))).toBe(false);
    expect(workloadMatches(DEPLOY, workload({ ref: 'refs/heads/feature' }))).toBe(false);
    expect(workloadMatches(DEPLOY, workload({ repository: 'octo-org/deploy-fork' }))).toBe(false);
    expect(workloadMatches(DEPLOY, workload({ environment: undefined }))).toBe(false);
    const { environment: _left, ...withoutEnvironment } = workload({}).claims;
    expect(workloadMatches(DEPLOY, workload({}, { claims: withoutEnvironment }))).toBe(false);
  });

  it('does not read a claim named like an object property the token does not have', () => {
    const rules: OidcAuthentication = { ...DEPLOY, claims: { repository: ['octo-org/deploy'], constructor: ['**'] } };
    expect(workloadMatches(rules, workload({}))).toBe(false);
  });

  it('finds only machines that authenticate with OIDC, and names every one that fits', () => {
    const machine = (id: string, authentication: MachinePolicy['authentication']): MachinePolicy => ({ id, owner: { user: 'U0OWNER01' }, authentication, account: id });
    const machines = [
      machine('token-bot', { type: 'token' }),
      machine('deploy', DEPLOY),
      machine('any-branch', { ...DEPLOY, claims: { repository: ['octo-org/deploy'] } }),
      machine('other-repo', { ...DEPLOY, claims: { repository: ['octo-org/other'] } }),
    ];
    expect(machinesForWorkload(machines, workload({})).map((m) => m.id)).toEqual(['deploy', 'any-branch']);
    expect(machinesForWorkload(machines, workload({ ref: 'refs/heads/dev' })).map((m) => m.id)).toEqual(['any-branch']);
    expect(machinesForWorkload(machines, workload({ repository: 'someone/else' }))).toEqual([]);
    expect([...trustedIssuers(machines)]).toEqual([GITHUB_ACTIONS_ISSUER]);
  });
});

describe('rules that would let strangers in', () => {
  it("refuses GitHub rules that do not pin the repository's owner", () => {
    const rules = (claims: Record<string, string[]>): OidcAuthentication => ({ ...DEPLOY, claims });
    expect(unpinnedGithubProblem(rules({ ref: ['refs/heads/main'] }))).toMatch(/any GitHub repository/);
    expect(unpinnedGithubProblem(rules({ repository: ['*/deploy'] }))).not.toBeNull();
    expect(unpinnedGithubProblem(rules({ repository: ['octo-org/deploy', '**'] }))).not.toBeNull();
    expect(unpinnedGithubProblem(rules({ repository_owner: ['octo-*'] }))).not.toBeNull();
    expect(unpinnedGithubProblem(rules({ sub: ['repo:*/deploy:ref:refs/heads/main'] }))).not.toBeNull();
    expect(unpinnedGithubProblem(rules({ repository: ['octo-org/*'] }))).toBeNull();
    expect(unpinnedGithubProblem(rules({ repository_owner: ['octo-org'], environment: ['production'] }))).toBeNull();
    expect(unpinnedGithubProblem(rules({ sub: ['repo:octo-org/deploy:environment:production'] }))).toBeNull();
    // Another issuer's claims mean what that issuer says: only GitHub's are known here.
    expect(unpinnedGithubProblem({ ...rules({ ref: ['main'] }), issuer: 'https://gitlab.example.com' })).toBeNull();
  });

  it('trusts issuers over HTTPS only, plain HTTP on loopback alone', () => {
    expect(issuerUrlProblem(GITHUB_ACTIONS_ISSUER)).toBeNull();
    expect(issuerUrlProblem('http://127.0.0.1:8080')).toBeNull();
    expect(issuerUrlProblem('http://localhost:8080/issuer')).toBeNull();
    expect(issuerUrlProblem('http://issuer.example.com')).toMatch(/https/);
    expect(issuerUrlProblem('https://user:pw@issuer.example.com')).toMatch(/plain URL/);
    expect(issuerUrlProblem('https://issuer.example.com/?x=1')).toMatch(/plain URL/);
    expect(issuerUrlProblem('token.actions.githubusercontent.com')).toMatch(/must be a URL/);
  });
});
