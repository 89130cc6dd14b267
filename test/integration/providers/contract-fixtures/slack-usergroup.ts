import { PostgresTargetLocks } from '../../../../src/store/target-lock.ts';
import { FakeSlack } from '../../../../tools/sandbox/fake-slack.ts';
import { createTestDatabase } from '../../../helpers/test-database.ts';
import type { ContractSetUp } from '../provider-contract.ts';

const CONTRACT_GROUP = 'S0CONTRACT';
const UNKNOWN_GROUP = 'S0NOSUCHGROUP';

/**
 * The fake Slack Web API with one user group, empty to begin with so the contract also walks
 * through disabling and enabling it; the group locks in a database of the fixture's own.
 */
export const setUpContract: ContractSetUp = async () => {
  const slack = await FakeSlack.start();
  slack.addUsergroup(CONTRACT_GROUP);
  const lockDatabase = await createTestDatabase({ migrated: false });
  const locks = new PostgresTargetLocks({ databaseUrl: lockDatabase.url, poolSize: 4 });
  return {
    settings: { roles: { member: CONTRACT_GROUP, gone: UNKNOWN_GROUP } },
    env: { SLACK_BOT_TOKEN: slack.botToken, SLACK_API_URL: slack.apiUrl },
    services: { locks },
    role: 'member',
    principal: 'U0CONTRACT1',
    bystander: 'U0BYSTANDER',
    missingRole: 'gone',
    hasAccess: async (principal, role) => {
      const group = slack.usergroup(role === 'member' ? CONTRACT_GROUP : UNKNOWN_GROUP);
      return group !== undefined && !group.disabled && group.users.includes(principal);
    },
    cleanup: async () => {
      await slack.close();
      await locks.close({ force: true });
      await lockDatabase.drop();
    },
  };
};
