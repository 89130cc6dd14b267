import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { Logger } from '../../logging/logger.ts';
import { createSecretScrubber, passwordOf, type SecretScrubber } from '../../logging/secret-scrubber.ts';
import {
  ok,
  permanent,
  transient,
  type AccessProvider,
  type IssuedCredentials,
  type ProviderBuildOptions,
  type ProviderFactory,
  type ProviderGrant,
  type ProviderResult,
  type RevocationCheck,
  type ScopedAccessFound,
  type SingleUseState,
} from '../provider.ts';
import type { RequestScope } from '../../domain/request-scope.ts';
import { DYNAMIC_LOGIN_MARKER, isDynamicLoginName, newDynamicPassword } from './dynamic-login.ts';
import { principalRefusal } from './principal-guard.ts';
import { rowScopesProblems } from './row-scopes.ts';
import {
  dropScopedRole,
  grantScoped,
  isScopedRoleName,
  planScope,
  removeRequestScopeRows,
  requestScopeRowCount,
  revokeScopedMembership,
  scopedLeftovers,
  scopedRoleFacts,
  scopedRoleName,
  SCOPED_ROLE_MARKER,
  scopeTableExists,
  shown,
  type ScopePlan,
} from './scoped-access.ts';
import { SCOPES_SCHEMA } from './scopes-schema.ts';
import { tableGrantsProblems } from './table-grants.ts';
import { scramSha256Verifier } from './scram-verifier.ts';
import { classifyPostgresError, sqlStateOf, type FailureContext } from './failures.ts';
import { DEFAULT_CONNECTION_LIMIT, parsePostgresSettings, roleNameProblem, type PostgresSettings } from './settings.ts';

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
// A scopeValues query bounds what a request may name: it runs while the requester waits.
const SCOPE_VALUES_TIMEOUT_MS = 2_000;
const SCOPES_NOT_INSTALLED = `the ${SCOPES_SCHEMA} schema is not installed on the target: apply \`latch scopes install\`'s SQL as the tables' owner`;
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

/** What the target says about a login Latch may have created (`credentials: dynamic`). */
interface LoginFacts {
  marked: boolean;
  can_login: boolean;
  valid_until: Date | null;
}

/** Where the holder of dynamic credentials connects: the grantor's server and database, unless the settings say otherwise. */
interface Endpoint {
  host: string;
  port: number;
  database: string;
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
  private readonly endpoint: Endpoint;
  private closing: Promise<void> | undefined;

  constructor({ settings, connectionString, logger, sessionEndTimeoutMs = DEFAULT_SESSION_END_TIMEOUT_MS, managedRoles = [], permanentHolders = [] }: PostgresProviderOptions) {
    this.settings = settings;
    this.logger = logger;
    this.sessionEndTimeoutMs = sessionEndTimeoutMs;
    this.managedRoles = [...new Set([...managedRoles, ...Object.values(settings.roles ?? {})])];
    this.permanentHolders = permanentHolders;
    this.scrub = createSecretScrubber([connectionString, passwordOf(connectionString)]);
    this.endpoint = endpointOf(connectionString, settings);
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
    if (grant.scope !== undefined) return this.grantScopedAccess(names.value, grant, grant.scope);
    if (this.dynamic) return this.grantLogin(names.value, grant.expiresAt, grant.singleUse === true);
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
    if (this.dynamic) return this.revokeLogin(names.value, grant.requestId);
    if (await this.isScoped(grant).catch(() => grant.scope !== undefined)) return this.revokeScopedAccess(names.value, grant.requestId);
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
      if (await this.isScoped(grant)) return ok(await this.holdsScopedRole(names.value.principal, grant.requestId));
      if (this.dynamic) return await this.checkLogin(names.value);
      const { rows } = await this.pool.query<{ member: boolean }>(
        `SELECT pg_has_role($1::name, $2::name, 'MEMBER') AS member`,
        [names.value.principal, names.value.role],
      );
      return ok(rows[0]?.member === true);
    } catch (error) {
      return this.failure(error, 'check', names.value);
    }
  }

  /**
   * Looks again after a revocation: the direct membership Latch granted is gone (for a login of
   * Latch's own, the login cannot log in or holds no role), and, where sessions are ended, no
   * session of the principal on this database began before `since`: a session that had SET ROLE
   * keeps acting as the role after REVOKE. Sessions begun since cannot take the role up.
   */
  async verifyRevoked(grant: ProviderGrant, since: Date): Promise<ProviderResult<RevocationCheck>> {
    const names = this.namesOf(grant);
    if (!names.ok) return names;
    const { role, principal } = names.value;
    try {
      const scoped = this.dynamic || (await this.isScoped(grant));
      if (scoped) {
        const left = await this.scopedRemains(principal, grant.requestId);
        if (left) return ok({ gone: false, remains: left });
      }
      if (this.dynamic) {
        const held = await this.checkLogin(names.value);
        if (!held.ok) return held;
        if (held.value) return ok({ gone: false, remains: `login "${principal}" can still log in as a member of "${role}"` });
      } else if (!scoped && (await this.isDirectMember(names.value))) {
        return ok({ gone: false, remains: `"${principal}" is still a member of database role "${role}"` });
      }
      if (this.settings.terminateSessions || scoped) {
        const { rows } = await this.pool.query<{ open: number }>(
          `SELECT count(*)::int AS open FROM pg_stat_activity
           WHERE usename = $1::name AND ($2::boolean OR datname = current_database()) AND backend_start < $3::timestamptz AND pid <> pg_backend_pid()`,
          [principal, this.dynamic, since],
        );
        const open = rows[0]?.open ?? 0;
        if (open > 0) return ok({ gone: false, remains: `${open} session(s) of "${principal}" begun before the revocation are still open` });
      }
      return ok({ gone: true });
    } catch (error) {
      return this.failure(error, 'check', names.value);
    }
  }

  /** Whether `principal` may ever be given `roleId` here: the same check grant and revoke make. */
  async checkPrincipal(principal: string, roleId: string): Promise<ProviderResult> {
    const names = this.namesOf({ principal, role: roleId });
    if (!names.ok) return names;
    try {
      if (this.dynamic) {
        const facts = await this.loginFacts(this.pool, names.value.principal);
        return facts && !facts.marked ? permanent(notOurs(names.value.principal)) : ok();
      }
      const refused = await principalRefusal(this.pool, { ...names.value, managedRoles: this.managedRoles, permanentHolders: this.permanentHolders });
      return refused ? permanent(refused) : ok();
    } catch (error) {
      return this.failure(error, 'check', names.value);
    }
  }

  /**
   * Whether `scope` can be granted for `roleId` as asked: every name a row scope or the table
   * scope of these settings, every table one they list, what the grants need installed on the
   * target (rowScopesProblems, tableGrantsProblems), and every value among those its scopeValues
   * query returns. Refusals are sentences for the requester.
   */
  async checkScope(roleId: string, scope: RequestScope): Promise<ProviderResult> {
    const planned = planScope(this.settings, roleId, scope);
    if (!planned.ok) return permanent(planned.problem);
    const { plan } = planned;
    try {
      const columns = Object.keys(plan.rows).flatMap((name) => (this.settings.rowScopes?.[name] ?? []).map((column) => ({ scope: name, ...column })));
      const problems = [
        ...(columns.length > 0 || plan.tables.length > 0 ? await rowScopesProblems(this.pool, columns) : []),
        ...(plan.tables.length > 0 && this.settings.tableGrants ? await tableGrantsProblems(this.pool, this.settings.tableGrants, { tables: plan.tables, privileges: plan.privileges }) : []),
      ];
      if (problems.length > 0) return permanent(`the database is not ready for this scope: ${[...new Set(problems)].join('; ')}`);
      const outside = await this.valuesRefusal(plan);
      return outside ? permanent(outside) : ok();
    } catch (error) {
      return this.failure(error, 'check scope', {});
    }
  }

  /** Why some value of `plan` is outside what its scope's scopeValues query returns, or null. */
  private async valuesRefusal(plan: ScopePlan): Promise<string | null> {
    for (const [name, query] of Object.entries(this.settings.scopeValues ?? {})) {
      const values = name === this.settings.tableGrants?.scope ? plan.tables : plan.rows[name];
      if (!values || values.length === 0) continue;
      let unknown: string[];
      try {
        unknown = await this.valuesOutside(query, values);
      } catch (error) {
        // The query itself is wrong for this target (a missing table, a privilege, a syntax or type
        // error): no retry helps, and nothing is allowed while it cannot answer.
        const state = sqlStateOf(error);
        if (state?.startsWith('42') || state?.startsWith('22')) {
          return `Latch cannot check the ${name} values: the resource's scopeValues query for ${name} fails on the database (SQLSTATE ${state}); an administrator must fix settings.scopeValues.${name}`;
        }
        throw error;
      }
      if (unknown.length > 0) {
        const listed = unknown.slice(0, 5).map(shown).join(', ') + (unknown.length > 5 ? ` and ${unknown.length - 5} more` : '');
        return `${name} ${listed} ${unknown.length === 1 ? 'is not one of the values' : 'are not among the values'} this resource allows for ${name}`;
      }
    }
    return null;
  }

  /**
   * Everything scoped grants made that is on the target now (request roles, scope rows), for the
   * standing-access scan to hold against the active grants. Values are never included.
   */
  async listScopedAccess(): Promise<ProviderResult<ScopedAccessFound[]>> {
    try {
      return ok(await scopedLeftovers(this.pool));
    } catch (error) {
      return this.failure(error, 'list scoped access', {});
    }
  }

  /**
   * The `values` a scopeValues query does not return: the query runs in a READ ONLY transaction
   * with a short statement timeout, its first column compared as text, the values bound as one
   * array parameter (never SQL text).
   */
  private async valuesOutside(query: string, values: readonly string[]): Promise<string[]> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN TRANSACTION READ ONLY');
      await client.query(`SET LOCAL statement_timeout = ${SCOPE_VALUES_TIMEOUT_MS}`);
      const { rows } = await client.query<{ value: string }>(
        `SELECT requested.value FROM unnest($1::text[]) AS requested(value)
          WHERE NOT EXISTS (SELECT 1 FROM (${query}) AS allowed(value) WHERE allowed.value::text = requested.value)
          ORDER BY 1`,
        [values],
      );
      return rows.map((row) => row.value);
    } finally {
      await client.query('ROLLBACK').catch((error: unknown) => {
        broken = error instanceof Error ? error : new Error(String(error));
      });
      client.release(broken);
    }
  }

  /**
   * The direct members of the database role behind `roleId`, except the grantor itself (which holds
   * ADMIN OPTION through a membership of its own), and scoped requests' own roles (listScopedAccess
   * accounts for them). Members that are group roles are listed too: their members hold the role as well.
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
             AND NOT (member.rolname ~ '^latch_s_[0-9a-f]{32}$' AND shobj_description(member.oid, 'pg_authid') IS NOT DISTINCT FROM $2::text)
           ORDER BY 1
         ) AS members
         FROM pg_roles r WHERE r.rolname = $1::name`,
        [role, SCOPED_ROLE_MARKER],
      );
      const found = rows[0];
      if (!found) return this.failed('list', { role }, permanent(`database role "${role}" does not exist on the target`));
      return ok(found.members);
    } catch (error) {
      return this.failure(error, 'list', { role });
    }
  }

  /**
   * `credentials: dynamic`: a new random password for the request's login, set as a SCRAM verifier
   * (the clear password never reaches the server's SQL text), and given back with where to connect.
   * Nothing keeps the password: a second call replaces it, so the caller must call once.
   */
  async issueCredentials(grant: ProviderGrant): Promise<ProviderResult<IssuedCredentials>> {
    if (!this.dynamic) return permanent('this resource grants roles to existing logins; it has no credentials to hand out');
    const names = this.namesOf(grant);
    if (!names.ok) return names;
    const { principal } = names.value;
    const password = newDynamicPassword();
    try {
      const outcome = await this.withPrincipalLock(principal, async (client): Promise<ProviderResult<Date | null>> => {
        const facts = await this.loginFacts(client, principal);
        if (!facts) return permanent(`the login "${principal}" no longer exists: its access has ended`);
        if (!facts.marked) return permanent(notOurs(principal));
        if (!facts.can_login) return permanent(`the login "${principal}" is being revoked`);
        await client.query(`ALTER ROLE ${pg.escapeIdentifier(principal)} PASSWORD ${pg.escapeLiteral(scramSha256Verifier(password))}`);
        return ok(facts.valid_until);
      });
      if (!outcome.ok) return this.failed('issue credentials', names.value, outcome);
      return ok({ ...this.endpoint, user: principal, password, validUntil: outcome.value });
    } catch (error) {
      return this.failure(error, 'issue credentials', names.value);
    }
  }

  /**
   * Single-use access: the login's sessions on the server, under the principal's lock. The first
   * session seen makes the login NOLOGIN (that session goes on; no other may start), which is how
   * the target itself remembers the use; a NOLOGIN login without sessions is used up.
   */
  async watchSingleUse(grant: ProviderGrant): Promise<ProviderResult<SingleUseState>> {
    if (!this.dynamic) return permanent('single-use access needs credentials: dynamic');
    const names = this.namesOf(grant);
    if (!names.ok) return names;
    const { principal } = names.value;
    try {
      const state = await this.withPrincipalLock(principal, async (client): Promise<ProviderResult<SingleUseState>> => {
        const facts = await this.loginFacts(client, principal);
        if (!facts) return ok('used');
        if (!facts.marked) return permanent(notOurs(principal));
        const { rows } = await client.query<{ open: number }>(`SELECT count(*)::int AS open FROM pg_stat_activity WHERE usename = $1::name`, [principal]);
        const open = rows[0]?.open ?? 0;
        if (open === 0) return ok(facts.can_login ? 'unused' : 'used');
        if (facts.can_login) await client.query(`ALTER ROLE ${pg.escapeIdentifier(principal)} NOLOGIN`);
        return ok('in_use');
      });
      return state.ok ? state : this.failed('watch single use', names.value, state);
    } catch (error) {
      return this.failure(error, 'watch single use', names.value);
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
  private async endSessions({ role, principal }: Names, everyDatabase = false): Promise<ProviderResult> {
    // pg_terminate_backend is in the select list, so it runs only for the rows the WHERE keeps.
    // A login of Latch's own is nobody else's: its sessions end on every database of the server.
    const { rows } = await this.pool.query<{ pid: number }>(
      `SELECT pid, pg_terminate_backend(pid) AS signalled
       FROM pg_stat_activity
       WHERE usename = $1::name AND ($2::boolean OR datname = current_database()) AND pid <> pg_backend_pid()`,
      [principal, everyDatabase],
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
    return this.withPrincipalLock(names.principal, async (client) => {
      const refused = await principalRefusal(client, { ...names, managedRoles: this.managedRoles, permanentHolders: this.permanentHolders });
      if (refused) return refused;
      await change(client);
      return null;
    });
  }

  /**
   * Runs `work` in one transaction holding the transaction-scoped advisory lock on `principal`, so
   * every Latch process's checks and changes for one account take turns. A result that is not ok
   * (or a string: a refusal) rolls back; anything else commits.
   */
  private async withPrincipalLock<T>(principal: string, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1::int, hashtext($2::text))', [PRINCIPAL_LOCK_SPACE, principal]);
      const result = await work(client);
      const refused = typeof result === 'string' || (typeof result === 'object' && result !== null && (result as { ok?: unknown }).ok === false);
      await client.query(refused ? 'ROLLBACK' : 'COMMIT');
      return result;
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

  private get dynamic(): boolean {
    return this.settings.credentials === 'dynamic';
  }

  /**
   * `credentials: dynamic` grant: creates the request's login (no password until it is fetched,
   * `VALID UNTIL` the grant's end, a connection limit, marked as Latch's), or, on a retry or an
   * extension, finds it and moves its end later; then grants it the role. One transaction.
   */
  private async grantLogin(names: Names, expiresAt: Date, singleUse: boolean): Promise<ProviderResult> {
    const { role, principal } = names;
    try {
      const outcome = await this.withPrincipalLock(principal, async (client): Promise<ProviderResult> => {
        const login = await this.ensureLogin(client, principal, expiresAt, singleUse);
        if (!login.ok) return login;
        await client.query(`GRANT ${pg.escapeIdentifier(role)} TO ${pg.escapeIdentifier(principal)}`);
        return ok();
      });
      return outcome.ok ? outcome : this.failed('grant', names, outcome);
    } catch (error) {
      return this.failure(error, 'grant', names, sqlStateOf(error) === '42704' ? 'role' : undefined);
    }
  }

  /**
   * In the caller's transaction: creates the request's login (no password until it is fetched,
   * `VALID UNTIL` the grant's end, a connection limit, marked as Latch's), or, on a retry or an
   * extension, finds it and moves its end later.
   */
  private async ensureLogin(client: pg.PoolClient, principal: string, expiresAt: Date, singleUse: boolean): Promise<ProviderResult> {
    const login = pg.escapeIdentifier(principal);
    const until = pg.escapeLiteral(expiresAt.toISOString());
    const facts = await this.loginFacts(client, principal);
    if (facts && !facts.marked) return permanent(notOurs(principal));
    if (!facts) {
      // CREATE ROLE takes no bind parameters: the name is a quoted identifier, the rest literals Latch made.
      await client.query(
        `CREATE ROLE ${login} WITH LOGIN INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION ` +
          // Single-use: one session, so a second cannot start beside the first before Latch sees it.
          `CONNECTION LIMIT ${singleUse ? 1 : (this.settings.connectionLimit ?? DEFAULT_CONNECTION_LIMIT)} PASSWORD NULL VALID UNTIL ${until}`,
      );
      await client.query(`COMMENT ON ROLE ${login} IS ${pg.escapeLiteral(DYNAMIC_LOGIN_MARKER)}`);
    } else if (facts.valid_until === null || facts.valid_until < expiresAt) {
      await client.query(`ALTER ROLE ${login} VALID UNTIL ${until}`);
    }
    return ok();
  }

  /**
   * A scoped grant (scoped-access.ts): in one transaction under the principal's lock, the
   * principal check (or, with dynamic credentials, the request's login), the scope rows, the
   * request's own role with what it holds, and last the principal's membership in it.
   */
  private async grantScopedAccess(names: Names, grant: ProviderGrant, scope: RequestScope): Promise<ProviderResult> {
    const { role, principal } = names;
    const planned = planScope(this.settings, grant.role, scope);
    if (!planned.ok) return this.failed('grant', names, permanent(`Latch refused the scoped grant: ${planned.problem}`));
    const roleName = scopedRoleName(grant.requestId);
    if (!roleName) return this.failed('grant', names, permanent('a scoped grant needs a request id that is a uuid'));
    try {
      if (!(await scopeTableExists(this.pool))) return this.failed('grant', names, permanent(SCOPES_NOT_INSTALLED));
      // Asked again right before granting, as the principal is: a value may have left the bound since the request.
      const outside = await this.valuesRefusal(planned.plan);
      if (outside) return this.failed('grant', names, permanent(`Latch refused the scoped grant: ${outside}`));
      const outcome = await this.withPrincipalLock(principal, async (client): Promise<ProviderResult> => {
        if (!(await scopeTableExists(client))) return permanent(SCOPES_NOT_INSTALLED);
        if (this.dynamic) {
          const login = await this.ensureLogin(client, principal, grant.expiresAt, grant.singleUse === true);
          if (!login.ok) return login;
        } else {
          const refused = await principalRefusal(client, { ...names, managedRoles: this.managedRoles, permanentHolders: this.permanentHolders });
          if (refused) return permanent(`Latch refused to grant "${role}" to "${principal}": ${refused}`);
        }
        const refused = await grantScoped(client, { roleName, baseRole: role, login: principal, requestId: grant.requestId, expiresAt: grant.expiresAt, plan: planned.plan });
        return refused ? permanent(refused) : ok();
      });
      return outcome.ok ? outcome : this.failed('grant', names, outcome);
    } catch (error) {
      return this.failure(error, 'grant', names);
    }
  }

  /**
   * Ends a scoped grant without its scope values, in this order: the membership goes, the
   * principal's sessions end (one could have SET ROLE to what the grant gave), the request's role
   * loses its privileges and is dropped, and only then its scope rows go: deleting them first
   * would leave a login that still holds the role unscoped, seeing every row. Each step is
   * idempotent, so a retried revocation picks up where a failed one stopped.
   */
  private async revokeScopedAccess(names: Names, requestId: string): Promise<ProviderResult> {
    const { principal } = names;
    const roleName = scopedRoleName(requestId);
    if (!roleName) return this.failed('revoke', names, permanent('a scoped grant has a request id that is a uuid'));
    const scopedNames = { role: roleName, principal };
    try {
      // No principal check: taking a request's own role away cannot take anybody's other access.
      const refused = await this.withPrincipalLock(principal, (client) => revokeScopedMembership(client, roleName, principal));
      if (refused) return this.failed('revoke', scopedNames, permanent(refused));
      const ended = await this.endSessions(scopedNames);
      if (!ended.ok) return ended;
      const notOursRole = await this.withPrincipalLock(principal, (client) => dropScopedRole(client, roleName));
      if (notOursRole) return this.failed('revoke', scopedNames, permanent(notOursRole));
      await removeRequestScopeRows(this.pool, principal, requestId);
      return ok();
    } catch (error) {
      return this.failure(error, 'revoke', scopedNames);
    }
  }

  /** Whether `grant` was scoped: said by the grant, or found on the target (its role, its scope rows). */
  private async isScoped(grant: Pick<ProviderGrant, 'scope' | 'requestId' | 'principal'>): Promise<boolean> {
    if (grant.scope !== undefined) return true;
    const roleName = scopedRoleName(grant.requestId);
    if (roleName && (await scopedRoleFacts(this.pool, roleName))?.marked) return true;
    return (await requestScopeRowCount(this.pool, grant.principal, grant.requestId)) > 0;
  }

  /** The principal is a member of the request's own (marked) role; with dynamic credentials, its login may also still log in. */
  private async holdsScopedRole(principal: string, requestId: string): Promise<boolean> {
    const roleName = scopedRoleName(requestId);
    if (!roleName || !(await scopedRoleFacts(this.pool, roleName))?.marked) return false;
    if (this.dynamic) {
      const facts = await this.loginFacts(this.pool, principal);
      if (!facts?.marked || !facts.can_login) return false;
    }
    const { rows } = await this.pool.query<{ member: boolean }>(`SELECT pg_has_role($1::name, $2::name, 'MEMBER') AS member`, [principal, roleName]);
    return rows[0]?.member === true;
  }

  /** What a scoped grant left on the target (its role, its scope rows), or null when nothing. */
  private async scopedRemains(principal: string, requestId: string): Promise<string | null> {
    const roleName = scopedRoleName(requestId);
    if (roleName && (await scopedRoleFacts(this.pool, roleName))) return `the request's role "${roleName}" still exists`;
    const rows = await requestScopeRowCount(this.pool, principal, requestId);
    return rows > 0 ? `${rows} scope row(s) of the request for "${principal}" are still in ${SCOPES_SCHEMA}.grants` : null;
  }

  /**
   * `credentials: dynamic` revoke: the login may no longer log in (NOLOGIN, committed first), its
   * sessions on every database end, and the role is dropped with whatever it owns here. A login
   * that is gone already is revoked; one Latch did not mark is never touched.
   */
  private async revokeLogin(names: Names, requestId: string): Promise<ProviderResult> {
    const { principal } = names;
    const login = pg.escapeIdentifier(principal);
    const scopedRole = scopedRoleName(requestId);
    try {
      const disabled = await this.withPrincipalLock(principal, async (client): Promise<ProviderResult<boolean>> => {
        const facts = await this.loginFacts(client, principal);
        if (!facts) return ok(false);
        if (!facts.marked) return permanent(`${notOurs(principal)}; nothing was changed`);
        await client.query(`ALTER ROLE ${login} NOLOGIN`);
        return ok(true);
      });
      if (!disabled.ok) return this.failed('revoke', names, disabled);
      if (disabled.value) {
        const ended = await this.endSessions(names, true);
        if (!ended.ok) return ended;
      }
      // A scoped grant's role, then the login, then (last, as for any scoped grant) its scope rows;
      // each is found by the request id, so a retry after any step finishes the rest.
      if (scopedRole) {
        const notOursRole = await this.withPrincipalLock(principal, (client) => dropScopedRole(client, scopedRole));
        if (notOursRole) return this.failed('revoke', names, permanent(notOursRole));
      }
      if (disabled.value) await this.dropLogin(principal);
      if (await this.loginFacts(this.pool, principal)) {
        return this.failed('revoke', names, transient(`the login "${principal}" is still there after DROP ROLE; will retry`));
      }
      await removeRequestScopeRows(this.pool, principal, requestId);
      return ok();
    } catch (error) {
      return this.failure(error, 'revoke', names);
    }
  }

  /**
   * DROP ROLE; when the login owns something (a table it made), the grantor makes itself a member
   * for the moment (CREATEROLE allows it) so that DROP OWNED may remove it, all in one transaction.
   */
  private async dropLogin(principal: string): Promise<void> {
    const login = pg.escapeIdentifier(principal);
    try {
      await this.withPrincipalLock(principal, (client) => client.query(`DROP ROLE IF EXISTS ${login}`));
    } catch (error) {
      if (sqlStateOf(error) !== '2BP01') throw error;
      await this.withPrincipalLock(principal, async (client) => {
        await client.query(`GRANT ${login} TO CURRENT_USER`);
        await client.query(`DROP OWNED BY ${login}`);
        await client.query(`DROP ROLE ${login}`);
      });
    }
  }

  private async checkLogin(names: Names): Promise<ProviderResult<boolean>> {
    try {
      const facts = await this.loginFacts(this.pool, names.principal);
      if (!facts?.marked || !facts.can_login) return ok(false);
      const { rows } = await this.pool.query<{ member: boolean }>(`SELECT pg_has_role($1::name, $2::name, 'MEMBER') AS member`, [names.principal, names.role]);
      return ok(rows[0]?.member === true);
    } catch (error) {
      return this.failure(error, 'check', names);
    }
  }

  private async loginFacts(db: pg.Pool | pg.PoolClient, principal: string): Promise<LoginFacts | null> {
    const { rows } = await db.query<LoginFacts>(
      `SELECT shobj_description(oid, 'pg_authid') IS NOT DISTINCT FROM $2::text AS marked,
              rolcanlogin AS can_login, rolvaliduntil AS valid_until
       FROM pg_roles WHERE rolname = $1::name`,
      [principal, DYNAMIC_LOGIN_MARKER],
    );
    return rows[0] ?? null;
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
    if (isScopedRoleName(principal)) return permanent(`"${principal}" is the role of a scoped request, not a database user`);
    if (this.dynamic && !isDynamicLoginName(principal)) {
      // With dynamic credentials Latch creates and drops logins: only ever ones of its own naming.
      return permanent(`"${principal}" is not a login Latch creates (latch_ and a request id): with credentials: dynamic, nothing else is changed`);
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

function notOurs(principal: string): string {
  return `a role named "${principal}" exists that Latch did not create (it lacks Latch's comment); Latch neither changes nor drops it`;
}

function endpointOf(connectionString: string, settings: PostgresSettings): Endpoint {
  const url = new URL(connectionString);
  const database = decodeURIComponent(url.pathname.replace(/^\//, '')) || decodeURIComponent(url.username) || 'postgres';
  return {
    host: settings.credentialsHost ?? (decodeURIComponent(url.hostname.replace(/^\[(.*)\]$/, '$1')) || 'localhost'),
    port: settings.credentialsPort ?? (url.port ? Number(url.port) : 5432),
    database,
  };
}

function isPostgresUrl(value: string): boolean {
  try {
    const { protocol } = new URL(value);
    return protocol === 'postgresql:' || protocol === 'postgres:';
  } catch {
    return false;
  }
}
