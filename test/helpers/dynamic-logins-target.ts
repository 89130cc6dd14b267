import pg from 'pg';
import { PrivatePostgres } from './private-postgres.ts';

/**
 * A PostgreSQL that checks passwords, set up as a `credentials: dynamic` resource needs it: a role
 * to grant (`role`, allowed to read the table `deployments`, which holds one row, '4f2a'), and a
 * grantor Latch connects as (`grantorUrl`) that may create logins, give them the role and end
 * their sessions. `admin` is a superuser connection, for what a test checks on the server.
 */
export async function startDynamicLoginsTarget(role: string): Promise<{ target: PrivatePostgres; admin: pg.Client; grantorUrl: string }> {
  const grantorPassword = 'grantor-password-0123456789';
  const target = await PrivatePostgres.start();
  const admin = new pg.Client({ connectionString: target.adminUrl });
  await admin.connect();
  await admin.query(`CREATE ROLE ${role} NOLOGIN`);
  await admin.query('CREATE TABLE deployments (version text); INSERT INTO deployments VALUES ($$4f2a$$)');
  await admin.query(`GRANT SELECT ON deployments TO ${role}`);
  await admin.query(`CREATE ROLE latch_grantor LOGIN CREATEROLE PASSWORD '${grantorPassword}'`);
  await admin.query(`GRANT ${role} TO latch_grantor WITH ADMIN OPTION`);
  await admin.query('GRANT pg_signal_backend TO latch_grantor');
  return { target, admin, grantorUrl: target.urlFor('latch_grantor', grantorPassword) };
}
