import { FakeGithub } from '../../../helpers/fake-github.ts';
import type { ContractSetUp } from '../provider-contract.ts';

const CONTRACT_TEAM = 'contract-team';

/** The fake GitHub (held to GitHub's OpenAPI description) with one team and two organisation members. */
export const setUpContract: ContractSetUp = async () => {
  const github = await FakeGithub.start();
  github.addTeam(CONTRACT_TEAM);
  github.addUser('contract-user', { inOrg: true });
  github.addUser('bystander-user', { inOrg: true });
  return {
    settings: { org: github.org, tokenEnv: 'CONTRACT_GITHUB_TOKEN', apiUrl: github.apiUrl, roles: { member: CONTRACT_TEAM, gone: 'no-such-team' } },
    env: { CONTRACT_GITHUB_TOKEN: github.token },
    role: 'member',
    principal: 'contract-user',
    bystander: 'bystander-user',
    missingRole: 'gone',
    hasAccess: async (principal, role) => role === 'member' && github.isActiveMember(CONTRACT_TEAM, principal),
    cleanup: async () => {
      if (github.violations.length > 0) throw new Error(`requests outside GitHub's description: ${github.violations.join('; ')}`);
      await github.close();
    },
  };
};
