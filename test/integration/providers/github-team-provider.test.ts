import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createGithubTeamProvider } from '../../../src/providers/github-team/github-team-provider.ts';
import type { AccessProvider, ProviderGrant } from '../../../src/providers/provider.ts';
import { FakeGithub } from '../../helpers/fake-github.ts';

/** What is particular to github-team (the contract suite covers the rest): invitations, synced teams, GitHub's failures. */
describe('github-team provider', () => {
  let github: FakeGithub;
  let provider: AccessProvider;
  const grantFor = (principal: string, role = 'member'): ProviderGrant => ({
    grantId: randomUUID(),
    requestId: randomUUID(),
    resourceId: 'release-team',
    role,
    principal,
    expiresAt: new Date(Date.now() + 3_600_000),
  });

  beforeAll(async () => {
    github = await FakeGithub.start();
    github.addTeam('release');
    github.addTeam('synced', ['okta-group-1']);
    github.addUser('alice', { inOrg: true });
    github.addUser('newcomer', { inOrg: false });
    const built = createGithubTeamProvider(
      { org: github.org, tokenEnv: 'GH_TOKEN', apiUrl: github.apiUrl, roles: { member: 'release', synced: 'synced' } },
      { GH_TOKEN: github.token },
    );
    if (!built.ok) throw new Error(built.problems.join('; '));
    provider = built.provider;
  });
  afterEach(() => {
    expect(github.violations).toEqual([]);
  });
  afterAll(async () => {
    await github?.close();
  });

  it('treats a pending invitation as not yet granted, and grants once it is accepted', async () => {
    const grant = grantFor('newcomer');
    const pending = await provider.grant(grant);
    expect(pending).toEqual({ ok: false, failure: { kind: 'transient', message: expect.stringContaining('has not accepted the invitation yet') } });
    expect(await provider.check(grant)).toEqual({ ok: true, value: false });
    const listed = await provider.list!('member');
    expect(listed.ok && listed.value).not.toContain('newcomer');

    github.acceptInvitation('newcomer');
    expect(await provider.grant(grant)).toEqual({ ok: true, value: undefined });
    expect(await provider.check(grant)).toEqual({ ok: true, value: true });
    expect(await provider.revoke(grant)).toEqual({ ok: true, value: undefined });
    expect(github.isActiveMember('release', 'newcomer')).toBe(false);
  });

  it('cancels a pending invitation on revoke, so accepting it later gives nothing', async () => {
    github.addUser('latecomer', { inOrg: false });
    const grant = grantFor('latecomer');
    expect((await provider.grant(grant)).ok).toBe(false);
    expect(github.teams.get('release')!.members.has('latecomer')).toBe(true);
    expect(await provider.revoke(grant)).toEqual({ ok: true, value: undefined });
    github.acceptInvitation('latecomer');
    expect(github.isActiveMember('release', 'latecomer')).toBe(false);
  });

  it('verifies a revocation: a removal GitHub reports done while the membership remains is a transient failure', async () => {
    const grant = grantFor('alice');
    expect((await provider.grant(grant)).ok).toBe(true);
    github.ignoreRemovals = true;
    try {
      expect(await provider.revoke(grant)).toEqual({ ok: false, failure: { kind: 'transient', message: expect.stringContaining('is still in') } });
    } finally {
      github.ignoreRemovals = false;
    }
    expect(await provider.revoke(grant)).toEqual({ ok: true, value: undefined });
    expect(github.isActiveMember('release', 'alice')).toBe(false);
  });

  it('refuses a team synced with an identity provider, and changes nothing', async () => {
    const before = github.requests.length;
    const result = await provider.grant(grantFor('alice', 'synced'));
    expect(result).toEqual({ ok: false, failure: { kind: 'permanent', message: expect.stringContaining('is synced with an identity provider') } });
    expect(github.requests.slice(before).some((request) => request.startsWith('PUT'))).toBe(false);
    expect(github.teams.get('synced')!.members.size).toBe(0);
  });

  it('lists every member across pages', async () => {
    const team = github.addTeam('big');
    for (let index = 0; index < 130; index += 1) team.members.set(`user-${index}`, { login: `user-${index}`, state: 'active' });
    const built = createGithubTeamProvider({ org: github.org, tokenEnv: 'GH_TOKEN', apiUrl: github.apiUrl, team: 'big' }, { GH_TOKEN: github.token });
    if (!built.ok) throw new Error(built.problems.join('; '));
    const listed = await built.provider.list!('member');
    expect(listed.ok && listed.value.length).toBe(130);
    expect(listed.ok && listed.value).toContain('user-129');
  });

  it.each([
    ['a primary rate limit (403, none remaining)', 403, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '9999999999' }],
    ['a secondary rate limit (403 with retry-after)', 403, { 'retry-after': '60' }],
    ['a 429 with retry-after', 429, { 'retry-after': '30' }],
    ['GitHub’s own trouble (502)', 502, {}],
  ])('treats %s as transient', async (_what, status, headers) => {
    github.failNext(status, headers);
    const result = await provider.grant(grantFor('alice'));
    expect(result).toEqual({ ok: false, failure: { kind: 'transient', message: expect.stringMatching(/\S/) } });
    expect(github.isActiveMember('release', 'alice')).toBe(false);
  });

  it('treats a 403 without rate-limit headers (scopes) as permanent, naming what the token needs', async () => {
    github.failNext(403);
    const result = await provider.grant(grantFor('alice'));
    expect(result).toEqual({ ok: false, failure: { kind: 'permanent', message: expect.stringContaining('admin:org') } });
  });

  it('treats a refused token as permanent, without quoting it', async () => {
    const built = createGithubTeamProvider({ org: github.org, tokenEnv: 'GH_TOKEN', apiUrl: github.apiUrl, team: 'release' }, { GH_TOKEN: 'ghp_wrongtoken' });
    if (!built.ok) throw new Error(built.problems.join('; '));
    const result = await built.provider.grant(grantFor('alice'));
    expect(result).toEqual({ ok: false, failure: { kind: 'permanent', message: expect.stringContaining('the token is not accepted') } });
    expect(JSON.stringify(result)).not.toContain('wrongtoken');
  });

  it('refuses a principal that is not a GitHub login without asking GitHub', async () => {
    const before = github.requests.length;
    const result = await provider.grant(grantFor('alice@example.com'));
    expect(result).toEqual({ ok: false, failure: { kind: 'permanent', message: expect.stringContaining('is not a GitHub login') } });
    expect(github.requests.length).toBe(before);
  });
});
