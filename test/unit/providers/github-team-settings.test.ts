import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../../src/config/policy-file.ts';
import { createGithubTeamProvider } from '../../../src/providers/github-team/github-team-provider.ts';

describe('github-team provider settings', () => {
  it('names each bad setting by its path, without quoting what was written', () => {
    const token = 'ghp_hunter2hunter2';
    const built = createGithubTeamProvider({ org: 'acme inc', team: 'Platform Oncall', tokenEnv: token, apiUrl: 'http://github.example.com/api/v3', colour: 'blue' }, {});
    expect(built).toEqual({
      ok: false,
      problems: [
        'settings.org: must be a GitHub organisation login (letters, digits and single hyphens, at most 39 characters)',
        'settings.team: must be a team slug such as platform-oncall (the last part of the team’s URL), not its display name',
        'settings.tokenEnv: must be the name of an environment variable, not the token itself',
        'settings.apiUrl: must be an https URL: the token is sent to it',
        'settings.colour: is not a github-team setting (known: org, team, roles, tokenEnv, apiUrl)',
      ],
    });
    expect(JSON.stringify(built)).not.toContain('hunter2');
  });

  it('needs a team for every role, and its token set', () => {
    expect(createGithubTeamProvider({ org: 'acme', tokenEnv: 'GITHUB_TEAMS_TOKEN' }, { GITHUB_TEAMS_TOKEN: 't' })).toEqual({
      ok: false,
      problems: ['settings.team: is missing: give team (one team slug for every role) or roles (a team slug per role id)'],
    });
    expect(createGithubTeamProvider({ org: 'acme', team: 'oncall', tokenEnv: 'GITHUB_TEAMS_TOKEN' }, { GITHUB_TEAMS_TOKEN: ' ' })).toEqual({
      ok: false,
      problems: ['settings.tokenEnv: GITHUB_TEAMS_TOKEN is not set'],
    });
    expect(createGithubTeamProvider({ org: 'acme', team: 'oncall', tokenEnv: 'GITHUB_TEAMS_TOKEN' }, { GITHUB_TEAMS_TOKEN: 't' }).ok).toBe(true);
  });

  it('reaches `latch policy check` with the setting’s path in the policy file and its line', () => {
    const text = [
      'resources:',
      '  - id: release-team',
      '    name: Release managers',
      '    provider:',
      '      type: github-team',
      '      settings:',
      '        org: acme',
      '        team: Release Managers',
      '        tokenEnv: GITHUB_TEAMS_TOKEN',
      '    identity: { from: map-only, map: { U0A: alice-gh } }',
      '    roles: [member]',
      '    maxDuration: 1h',
      '    approvers: { users: [U0A] }',
      '    approvalChannel: C0A',
      '',
    ].join('\n');
    const parsed = parsePolicy(text);
    expect(parsed.ok ? [] : parsed.problems).toEqual([
      'resources[0].provider.settings.team: must be a team slug such as platform-oncall (the last part of the team’s URL), not its display name (line 8)',
    ]);
  });
});
