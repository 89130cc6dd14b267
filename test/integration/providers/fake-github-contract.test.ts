import { describe, expect, it } from 'vitest';
import { FakeGithub } from '../../helpers/fake-github.ts';

/** The fake is only worth its tests if it notices requests GitHub's description does not allow. */
describe('the fake GitHub holds requests to GitHub’s OpenAPI description', () => {
  it('flags a route that does not exist and a body value outside an enum', async () => {
    const github = await FakeGithub.start();
    try {
      github.addTeam('release');
      github.addUser('alice', { inOrg: true });
      const headers = { authorization: `token ${github.token}`, 'content-type': 'application/json' };
      await fetch(`${github.apiUrl}/orgs/${github.org}/teams/release/memberz/alice`, { headers });
      await fetch(`${github.apiUrl}/orgs/${github.org}/teams/release/memberships/alice`, { method: 'PUT', headers, body: JSON.stringify({ role: 'owner' }) });
      expect(github.violations).toEqual([
        `GET /orgs/${github.org}/teams/release/memberz/alice is not a route in GitHub's description`,
        'PUT /orgs/{org}/teams/{team_slug}/memberships/{username} sent role=owner, not one of member, maintainer',
      ]);
    } finally {
      await github.close();
    }
  });
});
