import type { ProviderFailure } from '../provider.ts';

/**
 * What a mysql2 error means for a retry, by the server's error number (errors from the server) and
 * the driver's code (errors from the socket and the driver), with a message written here from the
 * code and the names involved, never copied from the error: a driver error may quote the connection
 * options, and those hold the grantor's password.
 */

export interface FailureContext {
  /** What was being done, e.g. `grant`, `revoke`, `check`. */
  operation: string;
  /** The role on the server, after the policy's mapping. */
  role?: string;
  /** The user part of the account. */
  principal?: string;
  /** The environment variable the connection string came from (its name is not a secret). */
  connectionStringEnv: string;
  /** For "no such role or account": which name the target lacks, when the provider could find out. */
  missing?: 'role' | 'principal';
}

// Server error numbers (MariaDB and MySQL share them below 1900; the role errors differ).
export const ER = {
  DBACCESS_DENIED: 1044,
  ACCESS_DENIED: 1045,
  BAD_DB: 1049,
  SERVER_SHUTDOWN: 1053,
  CON_COUNT: 1040,
  NO_SUCH_THREAD: 1094,
  KILL_DENIED: 1095,
  PASSWORD_NO_MATCH: 1133,
  TABLEACCESS_DENIED: 1142,
  COLUMNACCESS_DENIED: 1143,
  TOO_MANY_USER_CONNECTIONS: 1203,
  LOCK_WAIT_TIMEOUT: 1205,
  LOCK_DEADLOCK: 1213,
  SPECIFIC_ACCESS_DENIED: 1227,
  /** MariaDB answers a GRANT of a role the grantor does not administer with this (and a refused socket login). */
  ACCESS_DENIED_NO_PASSWORD: 1698,
  OPTION_PREVENTS_STATEMENT: 1290,
  CANNOT_USER: 1396,
  QUERY_INTERRUPTED: 1317,
  STATEMENT_TIMEOUT: 1969,
  /** MariaDB: `Invalid role specification`. */
  INVALID_ROLE: 1959,
  /** MariaDB: `Cannot grant role`. */
  CANNOT_GRANT_ROLE: 1961,
  /** MariaDB: `Cannot revoke role`. */
  CANNOT_REVOKE_ROLE: 1962,
  /** MySQL 8: `Unknown authorization ID`. */
  UNKNOWN_AUTHID: 3523,
  /** MySQL 8: `... is not granted to ...` (SET DEFAULT ROLE of a role not held). */
  ROLE_NOT_GRANTED: 3530,
  /** MySQL 8: max_execution_time exceeded. */
  QUERY_TIMEOUT: 3024,
} as const;

/** Errors that say a role or an account is not on the server. */
export const NOT_FOUND_ERRORS: ReadonlySet<number> = new Set([
  ER.INVALID_ROLE,
  ER.UNKNOWN_AUTHID,
  ER.PASSWORD_NO_MATCH,
  ER.CANNOT_USER,
  ER.CANNOT_GRANT_ROLE,
  ER.CANNOT_REVOKE_ROLE,
]);

const PRIVILEGE_ERRORS: ReadonlySet<number> = new Set([ER.DBACCESS_DENIED, ER.TABLEACCESS_DENIED, ER.COLUMNACCESS_DENIED, ER.SPECIFIC_ACCESS_DENIED, ER.KILL_DENIED, ER.ACCESS_DENIED_NO_PASSWORD]);

const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'POOL_CLOSED',
]);

/** The server's error number of an error the server sent; undefined for socket and driver errors. */
export function serverErrorOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { errno, sqlState } = error as { errno?: unknown; sqlState?: unknown };
  // Socket errors carry a negative errno from Node and no sqlState.
  return typeof errno === 'number' && errno > 0 && typeof sqlState === 'string' ? errno : undefined;
}

export function classifyMysqlError(error: unknown, context: FailureContext): ProviderFailure {
  const target = `the database server in ${context.connectionStringEnv}`;
  const errno = serverErrorOf(error);

  if (errno !== undefined) {
    if (NOT_FOUND_ERRORS.has(errno)) return { kind: 'permanent', message: `${doesNotExist(context)} (error ${errno})` };
    if (errno === ER.ACCESS_DENIED) {
      return {
        kind: 'permanent',
        message: `${target} refused the grantor's credentials (error ${errno}): check the user, host and password in ${context.connectionStringEnv}`,
      };
    }
    if (PRIVILEGE_ERRORS.has(errno)) {
      return {
        kind: 'permanent',
        message:
          `the grantor lacks a privilege needed to ${context.operation}${aboutRole(context)} (error ${errno}): ` +
          'see src/providers/mysql/README.md for what it needs (ADMIN OPTION on each role, default-role and session privileges)',
      };
    }
    if (errno === ER.BAD_DB) return { kind: 'permanent', message: `the database named in ${context.connectionStringEnv} does not exist on the target` };
    if (errno === ER.ROLE_NOT_GRANTED) {
      return { kind: 'permanent', message: `the server refused a default role not granted to${aboutPrincipal(context)} (error ${errno})` };
    }
    if (errno === ER.CON_COUNT || errno === ER.TOO_MANY_USER_CONNECTIONS) return transientFailure(`${target} has too many connections`, errno);
    if (errno === ER.SERVER_SHUTDOWN) return transientFailure(`${target} is shutting down`, errno);
    if (errno === ER.LOCK_WAIT_TIMEOUT || errno === ER.LOCK_DEADLOCK) {
      return transientFailure(`${context.operation} waited too long on a lock on ${target}`, errno);
    }
    if (errno === ER.QUERY_INTERRUPTED || errno === ER.STATEMENT_TIMEOUT || errno === ER.QUERY_TIMEOUT) {
      return transientFailure(`${context.operation} timed out on ${target}`, errno);
    }
    if (errno === ER.OPTION_PREVENTS_STATEMENT) return transientFailure(`${target} is read-only (a replica, or a failover in progress?)`, errno);
    return transientFailure(`unexpected error from ${target} during ${context.operation}`, errno);
  }

  const code = codeOf(error);
  if (code !== undefined && TRANSIENT_CODES.has(code)) return transientFailure(`cannot reach ${target}`, code);
  return { kind: 'transient', message: `unexpected error during ${context.operation} on ${target}` };
}

function doesNotExist({ role, principal, missing }: FailureContext): string {
  if (missing === 'role' && role !== undefined) return `role "${role}" does not exist on the target`;
  if (missing === 'principal' && principal !== undefined) return `account "${principal}" does not exist on the target`;
  if (role !== undefined && principal !== undefined) return `role "${role}" or account "${principal}" does not exist on the target`;
  if (role !== undefined) return `role "${role}" does not exist on the target`;
  return 'a role or account named in the request does not exist on the target';
}

function aboutRole({ role, principal }: FailureContext): string {
  if (role !== undefined && principal !== undefined) return ` role "${role}" for "${principal}"`;
  return role !== undefined ? ` role "${role}"` : '';
}

function aboutPrincipal({ principal }: FailureContext): string {
  return principal !== undefined ? ` "${principal}"` : ' the account';
}

function transientFailure(what: string, code: string | number): ProviderFailure {
  return { kind: 'transient', message: `${what} (${code}); will retry` };
}

function codeOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  const cause = (error as { cause?: unknown }).cause;
  if (cause !== undefined && cause !== error) return codeOf(cause);
  return undefined;
}
