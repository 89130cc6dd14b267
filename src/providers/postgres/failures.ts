import pg from 'pg';
import type { ProviderFailure } from '../provider.ts';

/**
 * What a pg error means for a retry, by SQLSTATE (errors from the server) and errno (errors from
 * the socket), with a message fit for Slack. Messages are written here from the error's code and
 * the names involved, never copied from the error itself: a driver or network error may quote the
 * connection string, and that holds the grantor's password.
 */

/** The names an operation was about, so a message can say which one is wrong. */
export interface FailureContext {
  /** What was being done, e.g. `grant`, `revoke`, `check`. */
  operation: string;
  /** The database role, after the policy's mapping. */
  role?: string;
  principal?: string;
  /** The environment variable the connection string came from (its name is not a secret). */
  connectionStringEnv: string;
  /**
   * For "does not exist" (42704): which name the target lacks, when the provider could find out.
   * Without it the message names both.
   */
  missing?: 'role' | 'principal';
}

const TRANSIENT_ERRNOS = new Set([
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
]);

// Errors pg raises itself, without a code: lost connections and its own timeouts.
const TRANSIENT_DRIVER_MESSAGES = [
  /timeout exceeded when trying to connect/i,
  /connection terminated/i,
  /timeout expired/i,
  /query read timeout/i,
  /connection error and is not queryable/i,
];

/** The SQLSTATE of an error the server sent; undefined for socket and driver errors (`EPIPE` looks like one). */
export function sqlStateOf(error: unknown): string | undefined {
  const fromServer =
    error instanceof pg.DatabaseError ||
    (typeof error === 'object' && error !== null && typeof (error as { severity?: unknown }).severity === 'string');
  const code = fromServer ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

export function classifyPostgresError(error: unknown, context: FailureContext): ProviderFailure {
  const target = `the database in ${context.connectionStringEnv}`;
  const code = codeOf(error);
  const sqlState = sqlStateOf(error);

  if (sqlState === '42704') return { kind: 'permanent', message: doesNotExist(context) };
  if (sqlState === '28P01' || sqlState === '28000') {
    return {
      kind: 'permanent',
      message:
        `${target} refused the grantor's credentials (SQLSTATE ${sqlState}): ` +
        `check the user and password in ${context.connectionStringEnv} and the server's pg_hba.conf`,
    };
  }
  if (sqlState === '42501') {
    return {
      kind: 'permanent',
      message:
        `the grantor lacks a privilege needed to ${context.operation}${aboutRole(context)}: it needs ADMIN OPTION on ` +
        'each managed role (or CREATEROLE), and membership in pg_signal_backend to end sessions',
    };
  }
  if (sqlState === '3D000') {
    return {
      kind: 'permanent',
      message: `the database named in ${context.connectionStringEnv} does not exist on the target`,
    };
  }
  if (sqlState === '0LP01' || sqlState === '0L000' || sqlState === '42939') {
    return {
      kind: 'permanent',
      message: `PostgreSQL refused to ${context.operation}${aboutRole(context)} (SQLSTATE ${sqlState}), e.g. a circular or reserved role membership`,
    };
  }

  if (sqlState !== undefined) {
    if (sqlState.startsWith('08')) return transientFailure(`lost the connection to ${target}`, sqlState);
    if (sqlState === '57P01' || sqlState === '57P02' || sqlState === '57P03') {
      return transientFailure(`${target} is shutting down or starting up`, sqlState);
    }
    if (sqlState === '53300') return transientFailure(`${target} has too many connections`, sqlState);
    if (sqlState.startsWith('53')) return transientFailure(`${target} is short of resources`, sqlState);
    if (sqlState === '57014' || sqlState === '55P03') {
      return transientFailure(`${context.operation} timed out waiting on ${target}`, sqlState);
    }
    if (sqlState === '40001' || sqlState === '40P01') {
      return transientFailure(`${context.operation} conflicted with another transaction on ${target}`, sqlState);
    }
    if (sqlState === '25006') {
      return transientFailure(`${target} is read-only (a standby, or a failover in progress?)`, sqlState);
    }
    return transientFailure(`unexpected error from ${target} during ${context.operation}`, sqlState);
  }

  if (code !== undefined && TRANSIENT_ERRNOS.has(code)) {
    return transientFailure(`cannot reach ${target}`, code);
  }
  const message = error instanceof Error ? error.message : '';
  if (TRANSIENT_DRIVER_MESSAGES.some((pattern) => pattern.test(message))) {
    return { kind: 'transient', message: `lost or could not open the connection to ${target} in time` };
  }
  return { kind: 'transient', message: `unexpected error during ${context.operation} on ${target}` };
}

function doesNotExist({ role, principal, missing }: FailureContext): string {
  if (missing === 'role' && role !== undefined) return `database role "${role}" does not exist on the target`;
  if (missing === 'principal' && principal !== undefined) return `database user "${principal}" does not exist on the target`;
  if (role !== undefined && principal !== undefined) {
    return `database role "${role}" or user "${principal}" does not exist on the target`;
  }
  if (role !== undefined) return `database role "${role}" does not exist on the target`;
  return 'a database role named in the request does not exist on the target';
}

function aboutRole({ role, principal }: FailureContext): string {
  if (role !== undefined && principal !== undefined) return ` role "${role}" for "${principal}"`;
  return role !== undefined ? ` role "${role}"` : '';
}

function transientFailure(what: string, code: string): ProviderFailure {
  return { kind: 'transient', message: `${what} (${code}); will retry` };
}

function codeOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  // Node wraps some socket errors (e.g. a host with several addresses) in an AggregateError.
  const cause = (error as { cause?: unknown }).cause;
  if (cause !== undefined && cause !== error) return codeOf(cause);
  return undefined;
}
