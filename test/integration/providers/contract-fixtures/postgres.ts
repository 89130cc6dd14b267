import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createTestDatabase } from '../../../helpers/test-database.ts';
import type { ContractSetUp } from '../provider-contract.ts';

const { escapeIdentifier } = pg;

/**
 * A target database of its own on the test server, and roles with a random suffix (roles are
 * cluster-wide). The provider connects as a grantor that is not a superuser and holds only what
 * src/providers/postgres/README.md asks for: ADMIN OPTION on the managed role and pg_signal_backend.
 */
export const setUpContract: ContractSetUp = async () => {
  const target = await createTestDatabase({ migrated: false });
  const admin = new pg.Client({ connectionString: target.url });
  await admin.connect();
  const suffix = randomBytes(5).toString('hex');
  const name = (label: string) => `latch_contract_${label}_${suffix}`;
  const created: string[] = [];
  const createRole = async (label: string, options: 'LOGIN' | 'NOLOGIN') => {
    const role = name(label);
    await admin.query(`CREATE ROLE ${escapeIdentifier(role)} ${options}`);
    created.push(role);
    return role;
  };
  const grantor = await createRole('grantor', 'LOGIN');
  await admin.query(`GRANT pg_signal_backend TO ${escapeIdentifier(grantor)}`);
  const role = await createRole('role', 'NOLOGIN');
  await admin.query(`GRANT ${escapeIdentifier(role)} TO ${escapeIdentifier(grantor)} WITH ADMIN OPTION`);
  const grantorUrl = new URL(target.url);
  grantorUrl.username = grantor;
  grantorUrl.password = 'contract-grantor-password';
  return {
    settings: { connectionStringEnv: 'LATCH_CONTRACT_PG_URL' },
    env: { LATCH_CONTRACT_PG_URL: grantorUrl.toString() },
    role,
    principal: await createRole('alice', 'LOGIN'),
    bystander: await createRole('bob', 'LOGIN'),
    missingRole: name('missing'),
    hasAccess: async (principal, member) => {
      const { rows } = await admin.query<{ member: boolean }>(`SELECT pg_has_role($1::name, $2::name, 'MEMBER') AS member`, [principal, member]);
      return rows[0]?.member === true;
    },
    cleanup: async () => {
      // Members before the roles they belong to; the grantor (created first) last.
      for (const each of [...created].reverse()) await admin.query(`DROP ROLE IF EXISTS ${escapeIdentifier(each)}`);
      await admin.end();
      await target.drop();
    },
  };
};
