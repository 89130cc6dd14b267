import type { MysqlDialect } from './settings.ts';

/**
 * The SQL the mysql provider sends, for each of the two role dialects it speaks. Role statements
 * take no bind parameters, so every name goes in as a backtick-quoted identifier (a backtick inside
 * is doubled, the only escape an identifier has); everything else is a bound value.
 *
 * The dialects differ where it matters:
 * - MariaDB keeps one default role per account (`SET DEFAULT ROLE r FOR u`); a role has no host.
 * - MySQL 8 keeps a list of default roles (`SET DEFAULT ROLE r1, r2 TO u`, replacing the list), and
 *   a role is an account like any other, `r`@`%`.
 */

/** An account as the server names it: a user (or role) and a host. */
export interface Account {
  user: string;
  host: string;
}

/** A role as the server names it; MySQL 8 roles have a host (`%` unless created otherwise). */
export interface RoleName {
  name: string;
  host: string | undefined;
}

// Roles Latch creates are granted without a host part: MySQL 8 reads `r` as `r`@`%`.
const MYSQL8_ROLE_HOST = '%';

export function quoteIdentifier(name: string): string {
  return `\`${name.replaceAll('`', '``')}\``;
}

export function quoteAccount({ user, host }: Account): string {
  return `${quoteIdentifier(user)}@${quoteIdentifier(host)}`;
}

function quoteRole(role: RoleName): string {
  return role.host === undefined ? quoteIdentifier(role.name) : quoteAccount({ user: role.name, host: role.host });
}

export interface Query {
  sql: string;
  values: Array<string | number>;
}

export interface DialectStatements {
  readonly dialect: MysqlDialect;
  /** A role Latch grants, by its name in the settings. */
  role(name: string): RoleName;
  grantRole(role: RoleName, account: Account): string;
  revokeRole(role: RoleName, account: Account): string;
  /** Sets the account's default roles to exactly `roles` (none: `NONE`). MariaDB takes at most one. */
  setDefaultRoles(account: Account, roles: readonly RoleName[]): string;
  /**
   * The default roles once `role` is granted, from the current ones and the roles the account holds
   * (`role` included): MariaDB has room for one, so it replaces any other; MySQL 8 adds it to the
   * list, leaving out roles no longer held, which `SET DEFAULT ROLE` would refuse (3530).
   */
  defaultRolesAfterGrant(current: readonly RoleName[], held: readonly RoleName[], role: RoleName): RoleName[];
  /** The default roles once `role` is revoked (`held` no longer has it): the same list without it. */
  defaultRolesAfterRevoke(current: readonly RoleName[], held: readonly RoleName[], role: RoleName): RoleName[];
  /** Rows { name, host } of the roles the account holds directly. */
  heldRolesOf(account: Account): Query;
  /** Rows { name, host } of the account's default roles. */
  defaultRolesOf(account: Account): Query;
  /** A row when the account holds `role` directly. */
  holdsRole(role: RoleName, account: Account): Query;
  /** Rows { user, host } of every account (or role) holding `role` directly. */
  holdersOf(role: RoleName): Query;
  /** A row when `role` exists as a role. */
  roleExists(role: RoleName): Query;
  /** A row { privileged } when the account exists; `privileged` is 1 for an account that administers others. */
  accountFacts(account: Account): Query;
  /** Rows { name } of the roles the account holds WITH ADMIN OPTION. */
  adminRolesOf(account: Account): Query;
}

/** A row for every session of `user` but the asking one: the account's open connections. */
export function sessionsOf(user: string): Query {
  return { sql: 'SELECT ID AS id FROM information_schema.PROCESSLIST WHERE USER = ? AND ID <> CONNECTION_ID()', values: [user] };
}

export function killConnection(id: number): string {
  if (!Number.isSafeInteger(id) || id < 0) throw new Error('a connection id is a non-negative integer');
  return `KILL CONNECTION ${id}`;
}

// Accounts that administer others: a grant to one changes nothing Latch can take back safely.
const PRIVILEGED = "(Super_priv = 'Y' OR Grant_priv = 'Y' OR Create_user_priv = 'Y')";

const mariadb: DialectStatements = {
  dialect: 'mariadb',
  role: (name) => ({ name, host: undefined }),
  grantRole: (role, account) => `GRANT ${quoteRole(role)} TO ${quoteAccount(account)}`,
  revokeRole: (role, account) => `REVOKE ${quoteRole(role)} FROM ${quoteAccount(account)}`,
  setDefaultRoles: (account, roles) => {
    if (roles.length > 1) throw new Error('MariaDB keeps one default role per account');
    return `SET DEFAULT ROLE ${roles[0] ? quoteRole(roles[0]) : 'NONE'} FOR ${quoteAccount(account)}`;
  },
  defaultRolesAfterGrant: (_current, _held, role) => [role],
  // Only the role Latch revoked is taken out: another default role is the account owner's business.
  defaultRolesAfterRevoke: (current, _held, role) => current.filter((each) => !sameRole(each, role)),
  heldRolesOf: ({ user, host }) => ({ sql: 'SELECT Role AS name, NULL AS host FROM mysql.roles_mapping WHERE User = ? AND Host = ? ORDER BY Role', values: [user, host] }),
  defaultRolesOf: ({ user, host }) => ({
    sql: "SELECT default_role AS name, NULL AS host FROM mysql.user WHERE User = ? AND Host = ? AND default_role <> ''",
    values: [user, host],
  }),
  holdsRole: (role, { user, host }) => ({
    sql: 'SELECT 1 AS held FROM mysql.roles_mapping WHERE User = ? AND Host = ? AND Role = ? LIMIT 1',
    values: [user, host, role.name],
  }),
  holdersOf: (role) => ({ sql: 'SELECT User AS user, Host AS host FROM mysql.roles_mapping WHERE Role = ? ORDER BY User, Host', values: [role.name] }),
  roleExists: (role) => ({ sql: "SELECT 1 AS found FROM mysql.user WHERE User = ? AND is_role = 'Y' LIMIT 1", values: [role.name] }),
  accountFacts: ({ user, host }) => ({
    // A MariaDB role has no host (''): found by its name, so that naming one is refused as a role.
    sql: `SELECT ${PRIVILEGED} AS privileged, is_role = 'Y' AS is_role FROM mysql.user WHERE User = ? AND (Host = ? OR (Host = '' AND is_role = 'Y')) LIMIT 1`,
    values: [user, host],
  }),
  adminRolesOf: ({ user, host }) => ({
    sql: "SELECT Role AS name FROM mysql.roles_mapping WHERE User = ? AND Host = ? AND Admin_option = 'Y' ORDER BY Role",
    values: [user, host],
  }),
};

const mysql8: DialectStatements = {
  dialect: 'mysql8',
  role: (name) => ({ name, host: MYSQL8_ROLE_HOST }),
  grantRole: (role, account) => `GRANT ${quoteRole(role)} TO ${quoteAccount(account)}`,
  revokeRole: (role, account) => `REVOKE ${quoteRole(role)} FROM ${quoteAccount(account)}`,
  setDefaultRoles: (account, roles) =>
    `SET DEFAULT ROLE ${roles.length > 0 ? roles.map(quoteRole).join(', ') : 'NONE'} TO ${quoteAccount(account)}`,
  defaultRolesAfterGrant: (current, held, role) => {
    const kept = current.filter((each) => held.some((other) => sameRole(each, other)));
    return kept.some((each) => sameRole(each, role)) ? kept : [...kept, role];
  },
  defaultRolesAfterRevoke: (current, held, role) => current.filter((each) => !sameRole(each, role) && held.some((other) => sameRole(each, other))),
  heldRolesOf: ({ user, host }) => ({
    sql: 'SELECT FROM_USER AS name, FROM_HOST AS host FROM mysql.role_edges WHERE TO_USER = ? AND TO_HOST = ? ORDER BY FROM_USER, FROM_HOST',
    values: [user, host],
  }),
  defaultRolesOf: ({ user, host }) => ({
    sql: 'SELECT DEFAULT_ROLE_USER AS name, DEFAULT_ROLE_HOST AS host FROM mysql.default_roles WHERE USER = ? AND HOST = ? ORDER BY 1, 2',
    values: [user, host],
  }),
  holdsRole: (role, { user, host }) => ({
    sql: 'SELECT 1 AS held FROM mysql.role_edges WHERE FROM_USER = ? AND FROM_HOST = ? AND TO_USER = ? AND TO_HOST = ? LIMIT 1',
    values: [role.name, role.host ?? MYSQL8_ROLE_HOST, user, host],
  }),
  holdersOf: (role) => ({
    sql: 'SELECT TO_USER AS user, TO_HOST AS host FROM mysql.role_edges WHERE FROM_USER = ? AND FROM_HOST = ? ORDER BY TO_USER, TO_HOST',
    values: [role.name, role.host ?? MYSQL8_ROLE_HOST],
  }),
  roleExists: (role) => ({
    sql: 'SELECT 1 AS found FROM mysql.user WHERE User = ? AND Host = ? LIMIT 1',
    values: [role.name, role.host ?? MYSQL8_ROLE_HOST],
  }),
  accountFacts: ({ user, host }) => ({
    // A MySQL 8 role is a locked account (CREATE ROLE locks it): a locked account is nobody's login either.
    sql: `SELECT ${PRIVILEGED} AS privileged, account_locked = 'Y' AS is_role FROM mysql.user WHERE User = ? AND Host = ?`,
    values: [user, host],
  }),
  adminRolesOf: ({ user, host }) => ({
    sql: "SELECT FROM_USER AS name FROM mysql.role_edges WHERE TO_USER = ? AND TO_HOST = ? AND WITH_ADMIN_OPTION = 'Y' ORDER BY FROM_USER",
    values: [user, host],
  }),
};

export function sameRole(a: RoleName, b: RoleName): boolean {
  return a.name === b.name && (a.host ?? '') === (b.host ?? '');
}

export function dialectStatements(dialect: MysqlDialect): DialectStatements {
  return dialect === 'mariadb' ? mariadb : mysql8;
}
