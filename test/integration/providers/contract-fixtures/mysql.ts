import { randomBytes } from 'node:crypto';
import { PrivateMariadb } from '../../../helpers/private-mariadb.ts';
import type { ContractSetUp } from '../provider-contract.ts';
import { createMariadbGrantor } from '../../../helpers/mariadb-grantor.ts';

/**
 * A real MariaDB server of the suite's own (Debian's mariadb-server, on a free port), a role and two
 * accounts; the provider connects as a grantor that holds only what src/providers/mysql/README.md
 * asks for.
 */
export const setUpContract: ContractSetUp = async () => {
  const server = await PrivateMariadb.start();
  const admin = await server.admin();
  const suffix = randomBytes(4).toString('hex');
  const role = `contract_role_${suffix}`;
  await admin.query(`CREATE ROLE \`${role}\``);
  const grantorUrl = await createMariadbGrantor(server, admin, [role]);
  const createAccount = async (label: string) => {
    const user = `contract_${label}_${suffix}`;
    await admin.query('CREATE USER ?@? IDENTIFIED BY ?', [user, '%', 'contract-password']);
    return user;
  };
  return {
    settings: { dialect: 'mariadb', connectionStringEnv: 'LATCH_CONTRACT_MYSQL_URL' },
    env: { LATCH_CONTRACT_MYSQL_URL: grantorUrl },
    role,
    principal: await createAccount('alice'),
    bystander: await createAccount('bob'),
    missingRole: `contract_missing_${suffix}`,
    hasAccess: async (principal, held) => {
      const [rows] = await admin.query('SELECT 1 FROM mysql.roles_mapping WHERE User = ? AND Host = ? AND Role = ?', [principal, '%', held]);
      return (rows as unknown[]).length > 0;
    },
    cleanup: async () => {
      await admin.end();
      await server.stop();
    },
  };
};
