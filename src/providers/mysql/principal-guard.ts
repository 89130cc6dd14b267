import type { Account, DialectStatements, Query, RoleName } from './dialect.ts';

/**
 * Which accounts Latch must never grant to or revoke from, whatever identity a request resolved
 * to: a Slack profile's email decides a principal name, and without this check `root@anything`
 * or the grantor's own name would be an account Latch changes. Asked right before every grant and
 * revoke, under the principal's lock (and when a request is made), on the server's own tables, so
 * it holds for accounts Latch has never heard of.
 */

export interface Queryable {
  query(options: { sql: string; values: Array<string | number>; timeout?: number }): Promise<[unknown, unknown]>;
}

// Client-side, for a server that stops answering: anything slower than this is a stuck target.
export const QUERY_TIMEOUT_MS = 15_000;

export interface PrincipalGuardInput {
  account: Account;
  role: RoleName;
  /** The account Latch connects as. */
  grantor: Account;
  /** Every role the policy grants through mysql providers (`role` is added). */
  managedRoles: readonly string[];
  /** The policy's permanent holders: kept out by name, without asking the target. */
  permanentHolders: readonly string[];
}

// Names the servers keep for themselves or their own accounts: never a person's login.
const RESERVED_USERS = new Set(['public', 'none', 'current_user', 'current_role', 'root', 'mariadb.sys', 'mysql.sys', 'mysql.session', 'mysql.infoschema']);

/** Why `user` is a name no person's account can have, or undefined. */
export function reservedUserProblem(user: string): string | undefined {
  return RESERVED_USERS.has(user.toLowerCase()) ? `"${user}" is a name the server reserves for itself, not a person's account` : undefined;
}

export async function rowsOf<T>(db: Queryable, query: Query): Promise<T[]> {
  const [rows] = await db.query({ sql: query.sql, values: query.values, timeout: QUERY_TIMEOUT_MS });
  return rows as T[];
}

/**
 * Why the account is not one Latch may change, as a phrase fit to follow "refused: ", or null when
 * it may. An account the server does not have is not refused here: a grant to it fails on its own.
 */
export async function principalRefusal(db: Queryable, sql: DialectStatements, input: PrincipalGuardInput): Promise<string | null> {
  const { account, grantor } = input;
  if (input.permanentHolders.some((holder) => holder.toLowerCase() === account.user.toLowerCase())) {
    return 'the policy lists it among permanentHolders, the accounts that hold their access on purpose';
  }
  if (account.user === grantor.user) return 'it is the account Latch itself connects as (the grantor)';
  const managed = new Set([...input.managedRoles, input.role.name]);
  if (managed.has(account.user)) return 'it is a role Latch grants to people, not a person’s login';
  const [facts] = await rowsOf<{ privileged: number | string; is_role: number | string }>(db, sql.accountFacts(account));
  if (!facts) return null;
  if (Number(facts.is_role) === 1) return 'it is a role (or, on MySQL 8, a locked account), so it is nobody’s personal login';
  if (Number(facts.privileged) === 1) return 'it administers accounts (SUPER, GRANT OPTION or CREATE USER)';
  const adminOf = (await rowsOf<{ name: string }>(db, sql.adminRolesOf(account))).find((row) => managed.has(row.name));
  if (adminOf) return `it holds ADMIN OPTION on "${adminOf.name}", a role Latch grants`;
  return null;
}
