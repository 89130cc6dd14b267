import type mysql from 'mysql2/promise';
import type { PrivateMariadb } from './private-mariadb.ts';

export const GRANTOR_USER = 'latch_grantor';
// Proves, where a test looks, that the password never reaches a message.
export const GRANTOR_PASSWORD = 'Grantor-Pa55word-never-shown';

/**
 * The grantor src/providers/mysql/README.md describes, on a MariaDB server: ADMIN OPTION on each
 * role (and nothing else of them), the mysql tables it reads, UPDATE on the mysql database (which
 * MariaDB asks of SET DEFAULT ROLE ... FOR another account), PROCESS and CONNECTION ADMIN to end
 * sessions. Returns its connection string.
 */
export async function createMariadbGrantor(server: PrivateMariadb, admin: mysql.Connection, roles: string[], options: { process?: boolean } = {}): Promise<string> {
  const user = GRANTOR_USER;
  await admin.query('CREATE USER IF NOT EXISTS ?@? IDENTIFIED BY ?', [user, '%', GRANTOR_PASSWORD]);
  for (const role of roles) await admin.query(`GRANT \`${role}\` TO ?@? WITH ADMIN OPTION`, [user, '%']);
  await admin.query('GRANT SELECT ON mysql.roles_mapping TO ?@?', [user, '%']);
  await admin.query('GRANT SELECT ON mysql.user TO ?@?', [user, '%']);
  await admin.query('GRANT UPDATE ON mysql.* TO ?@?', [user, '%']);
  await admin.query(`GRANT CONNECTION ADMIN${options.process === false ? '' : ', PROCESS'} ON *.* TO ?@?`, [user, '%']);
  return server.url(user, GRANTOR_PASSWORD);
}
