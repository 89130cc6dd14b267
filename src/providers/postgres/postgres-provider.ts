import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { Logger } from '../../logging/logger.ts';
import { createSecretScrubber, passwordOf, type SecretScrubber } from '../../logging/secret-scrubber.ts';
import {
  ok,
  permanent,
  transient,
  type AccessProvider,
  type ProviderBuildOptions,
  type ProviderFactory,
  type ProviderGrant,
  type ProviderResult,
} from '../provider.ts';
import { principalRefusal } from './principal-guard.ts';
import { classifyPostgresError, sqlStateOf, type FailureContext } from './failures.ts';
import { parsePostgresSettings, roleNameProblem, type PostgresSettings } from './settings.ts';

/**
 * Temporary membership in a PostgreSQL role: `GRANT role TO principal`, and at expiry `REVOKE`
 * followed by ending the principal's open sessions, since a session that already uses the role
 * (`SET ROLE`, an open transaction) keeps it after the revoke. The grantor connects through a
 * connection string named in the settings; its privileges are described in README.md beside this
 * file.
 */

export const POSTGRES_PROVIDER_TYPE = 'postgres';

// A grant or revoke is a catalog change that takes a moment: anything slower is a stuck target.
const POOL_SIZE = 2;
const CONNECTION_TIMEOUT_MS = 5_000;
const STATEMENT_TIMEOUT_MS = 10_000;
const LOCK_TIMEOUT_MS = 5_000;
// Client-side, for a server that stops answering altogether (statement_timeout cannot fire then).
const QUERY_TIMEOUT_MS = 15_000;
const IDLE_TIMEOUT_MS = 30_000;
const DEFAULT_SESSION_END_TIMEOUT_MS = 5_000;
const SESSION_POLL_INTERVAL_MS = 50;

// Names PostgreSQL keeps for itself: never a person's login. `public` means everybody, even quoted.
const RESERVED_PRINCIPALS = new Set(['public', 'none']);
// The first key of Latch's advisory locks on a principal ('LT'), so they stay apart from an application's.
const PRINCIPAL_LOCK_SPACE = 0x4c54;

export interface PostgresProviderOptions {
  settings: PostgresSettings;
  /** The grantor's connection string: a secret, kept in the pool's configuration only. */
  connectionString: string;
  logger?: Logger;
  /** How long a revoke waits for the principal's sessions to end after signalling them. */
  sessionEndTimeoutMs?: number;
  /** Database roles the policy grants through postgres providers, besides this one's own: never a principal. */
  managedRoles?: string[];
  /** Accounts the policy keeps as permanent holders: never granted or revoked. */
  permanentHolders?: string[];
}

interface Names {
  role: string;
  principal: string;
}

export class PostgresRoleProvider implements AccessProvider {
  readonly type = POSTGRES_PROVIDER_TYPE;
  private readonly pool: pg.Pool;
  private readonly settings: PostgresSettings;
  private readonly logger: Logger | undefined;
  private readonly scrub: SecretScrubber;
  private readonly sessionEndTimeoutMs: number;
  private readonly managedRoles: string[];
  private readonly permanentHolders: string[];
  private closing: Promise<void> | undefined;

  constructor({ settings, connectionString, logger, sessionEndTimeoutMs = DEFAULT_SESSION_END_TIMEOUT_MS, managedRoles = [], permanentHolders = [] }: PostgresProviderOptions) {
    this.settings = settings;
    this.logger = logger;
    this.sessionEndTimeoutMs = sessionEndTimeoutMs;
    this.managedRoles = [...new Set([...managedRoles, ...Object.values(settings.roles ?? {})])];
    this.permanentHolders = permanentHolders;
    this.scrub = createSecretScrubber([connectionString, passwordOf(connectionString)]);
    this.pool = new pg.Pool({
      connectionString,
      max: POOL_SIZE,
      connectionTimeoutMillis: CONNECTION_TIMEOUT_MS,
      idleTimeoutMillis: IDLE_TIMEOUT_MS,
      statement_timeout: STATEMENT_TIMEOUT_MS,
      lock_timeout: LOCK_TIMEOUT_MS,
      query_timeout: QUERY_TIMEOUT_MS,
      application_name: 'latch provider',
      keepAlive: true,
    });
    // An idle connection the server drops emits 'error' on the pool; unheard, it would crash Latch.
    this.pool.on('error', (error) => {
      this.logger?.warn({ provider: this.type, ...this.describe(error) }, 'postgres provider: idle connection lost');
    });
  }

  async grant(grant: ProviderGrant): Promise<ProviderResult> {
    const names = this.namesOf(grant);
    if (!names.ok) return names;
    const { role, principal } = names.value;
    try {
      // GRANT takes no bind parameters: both names go in as quoted identifiers, never bare.
      const refused = await this.guarded(names.value, (client) => client.query(`GRANT ${pg.escapeIdentifier(role)} TO ${pg.escapeIdentifier(principal)}`));
      if (refused) return this.failed('grant', names.value, permanent(`Latch refused to grant "${role}" to "${principal}": ${refused}`));
      return ok();
    } catch (error) {
      return this.failure(error, 'grant', names.value);
    }
  }

  async revoke(grant: ProviderGrant): Promise<ProviderResult> {
    const names = this.namesOf(grant);
    if (!names.ok) return names;
    const { role, principal } = names.value;
    try {
      const refused = await this.guarded(names.value, (client) => client.query(`REVOKE ${pg.escapeIdentifier(role)} FROM ${pg.escapeIdentifier(principal)}`));
      if (refused) {
        // Revoking from such an account could take the grantor's own ADMIN OPTION, or what a
        // service keeps on purpose: nothing is changed, and the failure alerts the security channel.
        return this.failed('revoke', names.value, permanent(
          `Latch refused to revoke "${role}" from "${principal}": ${refused}; nothing was changed, check by hand who holds "${role}"`,
        ));
      }
    } catch (error) {
      const missing = sqlStateOf(error) === '42704' ? await this.missingName(names.value) : undefined;
      if (missing === 'principal') {
        // No such user: nobody by that name holds the role, which is what a revoke is for.
        this.logger?.warn({ provider: this.type, role, principal }, 'postgres provider: revoke for a user the target does not have');
        return ok();
      }
      return this.failure(error, 'revoke', names.value, missing);
    }
    try {
      // PostgreSQL 16+ revokes only the memberships this grantor granted, and says so in a warning,
      // not an error: make sure the membership is really gone before calling it revoked.
      if (await this.isDirectMember(names.value)) {
        return this.failed('revoke', names.value, permanent(
          `"${principal}" is still a member of database role "${role}" after REVOKE: the membership was granted by ` +
            'another role; revoke it as that role, or as a superuser',
        ));
      }
      if (this.settings.terminateSessions) return await this.endSessions(names.value);
      return ok();
    } catch (error) {
      return this.failure(error, 'revoke', names.value);
    }
  }

  async check(grant: ProviderGrant): Promise<ProviderResult<boolean>> {
    const names = this.namesOf(grant);
    if (!names.ok) return names;
    try {
      const { rows } = await this.pool.query<{ member: boolean }>(
        `SELECT pg_has_role($1::name, $2::name, 'MEMBER') AS member`,
        [names.value.principal, names.value.role],
      );
      return ok(rows[0]?.member === true);
    } catch (error) {
      return this.failure(error, 'check', names.value);
    }
  }

  /** Whether `principal` may ever be given `roleId` here: the same check grant and revoke make. */
  async checkPrincipal(principal: string, roleId: string): Promise<ProviderResult> {
    const names = this.namesOf({ principal, role: roleId });
    if (!names.ok) return names;
    try {
      const refused = await principalRefusal(this.pool, { ...names.value, managedRoles: this.managedRoles, permanentHolders: this.permanentHolders });
      return refused ? permanent(refused) : ok();
    } catch (error) {
      return this.failure(error, 'check', names.value);
    }
  }

  /**
   * The direct members of the database role behind `roleId`, except the grantor itself (which holds
   * ADMIN OPTION through a membership of its own). Members that are group roles are listed too:
   * their members hold the role as well.
   */
  async list(roleId: string): Promise<ProviderResult<string[]>> {
    const role = this.databaseRoleOf(roleId);
    const problem = roleNameProblem(role);
    if (problem) return permanent(`database role "${roleId}" ${problem}`);
    try {
      const { rows } = await this.pool.query<{ members: string[] }>(
        `SELECT array(
           SELECT DISTINCT member.rolname::text
           FROM pg_auth_members m JOIN pg_roles member ON member.oid = m.member
           WHERE m.roleid = r.oid AND member.rolname <> current_user
           ORDER BY 1
         ) AS members
         FROM pg_roles r WHERE r.rolname = $1::name`,
        [role],
      );
      const found = rows[0];
      if (!found) return this.failed('list', { role }, permanent(`database role "${role}" does not exist on the target`));
      return ok(found.members);
    } catch (error) {
      return this.failure(error, 'list', { role });
    }
  }

  async close(): Promise<void> {
    this.closing ??= this.pool.end();
    await this.closing;
  }

  /**
   * Ends the principal's sessions on this database, then waits until they are gone: a revoke is
   * only done when nothing can still use the role. A session that outlives the wait is a transient
   * failure, so the job retries (REVOKE again, terminate again).
   */
  private async endSessions({ role, principal }: Names): Promise<ProviderResult> {
    // pg_terminate_backend is in the select list, so it runs only for the rows the WHERE keeps.
    const { rows } = await this.pool.query<{ pid: number }>(
      `SELECT pid, pg_terminate_backend(pid) AS signalled
       FROM pg_stat_activity
       WHERE usename = $1::name AND datname = current_database() AND pid <> pg_backend_pid()`,
      [principal],
    );
    if (rows.length === 0) return ok();
    const pids = rows.map((row) => row.pid);
    const deadline = Date.now() + this.sessionEndTimeoutMs;
    let remaining = pids.length;
    for (;;) {
      const result = await this.pool.query<{ remaining: number }>(
        `SELECT count(*)::int AS remaining FROM pg_stat_activity WHERE pid = ANY($1::int[]) AND usename = $2::name`,
        [pids, principal],
      );
      remaining = result.rows[0]?.remaining ?? 0;
      if (remaining === 0 || Date.now() >= deadline) break;
      await sleep(SESSION_POLL_INTERVAL_MS);
    }
    this.logger?.info(
      { provider: this.type, role, principal, sessionsSignalled: pids.length, sessionsRemaining: remaining },
      'postgres provider: ended the principal’s sessions after revoke',
    );
    if (remaining > 0) {
      return this.failed('revoke', { role, principal }, transient(
        `revoked "${role}" from "${principal}", but ${remaining} of their sessions had not ended ` +
          `${Math.round(this.sessionEndTimeoutMs / 1000)}s after being terminated; will retry`,
      ));
    }
    return ok();
  }

  /**
   * Runs `change` in one transaction, right after checking the principal in it (principalRefusal),
   * and returns why it refused, or null once the change is committed. A transaction-scoped
   * advisory lock on the principal makes every Latch process's checks and changes for one account
   * take turns, so none can slip between another's check and its change.
   */
  private async guarded(names: Names, change: (client: pg.PoolClient) => Promise<unknown>): Promise<string | null> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1::int, hashtext($2::text))', [PRINCIPAL_LOCK_SPACE, names.principal]);
      const refused = await principalRefusal(client, { ...names, managedRoles: this.managedRoles, permanentHolders: this.permanentHolders });
      if (refused) {
        await client.query('ROLLBACK');
        return refused;
      }
      await change(client);
      await client.query('COMMIT');
      return null;
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: unknown) => {
        broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
      });
      throw error;
    } finally {
      // A connection whose rollback failed is in an unknown state: the pool drops it.
      client.release(broken);
    }
  }

  private async isDirectMember({ role, principal }: Names): Promise<boolean> {
    const { rows } = await this.pool.query<{ member: boolean }>(
      `SELECT EXISTS (
         SELECT 1 FROM pg_auth_members m
         JOIN pg_roles r ON r.oid = m.roleid
         JOIN pg_roles u ON u.oid = m.member
         WHERE r.rolname = $1::name AND u.rolname = $2::name
       ) AS member`,
      [role, principal],
    );
    return rows[0]?.member === true;
  }

  /** After "does not exist" (42704): which of the two names the target lacks, when it can say. */
  private async missingName({ role, principal }: Names): Promise<'role' | 'principal' | undefined> {
    try {
      const { rows } = await this.pool.query<{ rolname: string }>(
        `SELECT rolname::text AS rolname FROM pg_roles WHERE rolname::text = ANY($1::text[])`,
        [[role, principal]],
      );
      const existing = new Set(rows.map((row) => row.rolname));
      if (!existing.has(role)) return 'role';
      if (!existing.has(principal)) return 'principal';
      return undefined;
    } catch {
      return undefined;
    }
  }

  private namesOf(grant: Pick<ProviderGrant, 'role' | 'principal'>): ProviderResult<Names> {
    const role = this.databaseRoleOf(grant.role);
    const roleProblem = roleNameProblem(role);
    if (roleProblem) return permanent(`database role for "${grant.role}" ${roleProblem}`);
    const principal = grant.principal;
    const principalProblem = roleNameProblem(principal);
    if (principalProblem) return permanent(`database user name ${principalProblem}`);
    if (RESERVED_PRINCIPALS.has(principal) || principal.startsWith('pg_')) {
      return permanent(`"${principal}" is a name PostgreSQL reserves, not a database user`);
    }
    return ok({ role, principal });
  }

  private databaseRoleOf(roleId: string): string {
    // hasOwn: a role id such as `constructor` must not find Object.prototype's.
    const roles = this.settings.roles ?? {};
    return Object.hasOwn(roles, roleId) ? (roles[roleId] ?? roleId) : roleId;
  }

  private async failure<T>(
    error: unknown,
    operation: string,
    names: Partial<Names>,
    knownMissing?: 'role' | 'principal',
  ): Promise<ProviderResult<T>> {
    const context: FailureContext = { operation, ...names, connectionStringEnv: this.settings.connectionStringEnv };
    if (knownMissing) {
      context.missing = knownMissing;
    } else if (sqlStateOf(error) === '42704' && names.role !== undefined && names.principal !== undefined) {
      const missing = await this.missingName({ role: names.role, principal: names.principal });
      if (missing) context.missing = missing;
    }
    const failure = classifyPostgresError(error, context);
    this.logger?.warn(
      { provider: this.type, operation, ...names, failureKind: failure.kind, ...this.describe(error) },
      `postgres provider: ${operation} failed`,
    );
    return { ok: false, failure };
  }

  private failed<T>(operation: string, names: Partial<Names>, result: ProviderResult<never>): ProviderResult<T> {
    if (!result.ok) {
      this.logger?.warn({ provider: this.type, operation, ...names, failureKind: result.failure.kind }, result.failure.message);
    }
    return result;
  }

  /** An error as log fields: its codes and a scrubbed message, never the error object itself. */
  private describe(error: unknown): Record<string, string | undefined> {
    const fields = error as { code?: unknown; message?: unknown } | undefined;
    return {
      errorCode: typeof fields?.code === 'string' ? fields.code : undefined,
      errorMessage: typeof fields?.message === 'string' ? this.scrub(fields.message) : undefined,
    };
  }
}

export interface PostgresProviderDependencies extends ProviderBuildOptions {
  logger?: Logger;
}

/** The `postgres` provider type: settings validated, the connection string read from `env`. */
export const createPostgresProvider = function createPostgresProvider(
  settings: Record<string, unknown>,
  env: Record<string, string | undefined>,
  { logger, guard }: PostgresProviderDependencies = {},
) {
  const parsed = parsePostgresSettings(settings);
  if (!parsed.ok) return parsed;
  const variable = parsed.settings.connectionStringEnv;
  const connectionString = env[variable];
  // An empty value in a .env file means "not set", as for Latch's own variables.
  if (connectionString === undefined || connectionString.trim() === '') {
    return { ok: false, problems: [`settings.connectionStringEnv: ${variable} is not set`] };
  }
  if (!isPostgresUrl(connectionString)) {
    return {
      ok: false,
      problems: [
        `settings.connectionStringEnv: ${variable} is not a postgresql:// connection string ` +
          '(percent-encode special characters in the password)',
      ],
    };
  }
  const managedRoles = (guard?.peers ?? []).flatMap((peer) => databaseRolesOf(peer.settings, peer.roles));
  return {
    ok: true,
    provider: new PostgresRoleProvider({ settings: parsed.settings, connectionString, logger, managedRoles, permanentHolders: guard?.permanentHolders ?? [] }),
  };
} satisfies ProviderFactory;

/** The database roles a postgres resource grants: each role id through its settings' mapping. */
function databaseRolesOf(settings: Record<string, unknown>, roleIds: string[]): string[] {
  const parsed = parsePostgresSettings(settings);
  const mapping = parsed.ok ? (parsed.settings.roles ?? {}) : {};
  return roleIds.map((roleId) => (Object.hasOwn(mapping, roleId) ? mapping[roleId]! : roleId));
}

function isPostgresUrl(value: string): boolean {
  try {
    const { protocol } = new URL(value);
    return protocol === 'postgresql:' || protocol === 'postgres:';
  } catch {
    return false;
  }
}
