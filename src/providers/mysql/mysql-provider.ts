import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import type mysql from 'mysql2/promise';
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
  type RevocationCheck,
} from '../provider.ts';
import { dialectStatements, killConnection, sameRole, sessionsOf, type Account, type DialectStatements, type RoleName } from './dialect.ts';
import { classifyMysqlError, ER, NOT_FOUND_ERRORS, serverErrorOf, type FailureContext } from './failures.ts';
import { principalRefusal, QUERY_TIMEOUT_MS, reservedUserProblem, rowsOf, type Queryable } from './principal-guard.ts';
import { accountNameProblem, parseMysqlSettings, type MysqlSettings } from './settings.ts';

/**
 * Temporary holding of a MySQL or MariaDB role: `GRANT role TO account` and the role made a default
 * role (so it is active at login without `SET ROLE`); at expiry `REVOKE`, the default role cleared,
 * and the account's open connections ended, since a MariaDB session that has the role active keeps
 * it after the REVOKE. The grantor connects through a connection string named in the settings; its
 * privileges are described in README.md beside this file.
 */

export const MYSQL_PROVIDER_TYPE = 'mysql';

/**
 * The mysql2 driver, loaded when the first MySQL provider is built rather than with the provider
 * registry: a Latch whose policy has no MySQL resource (every `latch web` grants nothing through
 * it) never holds it, about 7 MiB of resident memory. mysql2 is CommonJS, so it loads at once.
 */
const loadMysqlDriver = () => createRequire(import.meta.url)('mysql2/promise') as typeof mysql;

const POOL_SIZE = 2;
const CONNECT_TIMEOUT_MS = 5_000;
const IDLE_TIMEOUT_MS = 30_000;
// How long a grant or revoke waits for another Latch process working on the same account.
const PRINCIPAL_LOCK_WAIT_SECONDS = 5;
const DEFAULT_SESSION_END_TIMEOUT_MS = 5_000;
const SESSION_POLL_INTERVAL_MS = 50;

export interface MysqlProviderOptions {
  settings: MysqlSettings;
  /** The grantor's connection string: a secret, kept in the pool's configuration only. */
  connectionString: string;
  logger?: Logger;
  /** How long a revoke waits for the account's connections to end after killing them. */
  sessionEndTimeoutMs?: number;
  /** Roles the policy grants through mysql providers, besides this one's own: never a principal. */
  managedRoles?: string[];
  /** Accounts the policy keeps as permanent holders: never granted or revoked. */
  permanentHolders?: string[];
}

interface Names {
  role: RoleName;
  account: Account;
}

class PrincipalBusy extends Error {}

export class MysqlRoleProvider implements AccessProvider {
  readonly type = MYSQL_PROVIDER_TYPE;
  private readonly pool: mysql.Pool;
  private readonly settings: MysqlSettings;
  private readonly sql: DialectStatements;
  private readonly logger: Logger | undefined;
  private readonly scrub: SecretScrubber;
  private readonly sessionEndTimeoutMs: number;
  private readonly managedRoles: string[];
  private readonly permanentHolders: string[];
  private closing: Promise<void> | undefined;

  constructor({ settings, connectionString, logger, sessionEndTimeoutMs = DEFAULT_SESSION_END_TIMEOUT_MS, managedRoles = [], permanentHolders = [] }: MysqlProviderOptions) {
    this.settings = settings;
    this.sql = dialectStatements(settings.dialect);
    this.logger = logger;
    this.sessionEndTimeoutMs = sessionEndTimeoutMs;
    this.managedRoles = [...new Set([...managedRoles, ...Object.values(settings.roles ?? {})])];
    this.permanentHolders = permanentHolders;
    this.scrub = createSecretScrubber([connectionString, passwordOf(connectionString)]);
    this.pool = loadMysqlDriver().createPool({
      uri: connectionString,
      connectionLimit: POOL_SIZE,
      maxIdle: POOL_SIZE,
      idleTimeout: IDLE_TIMEOUT_MS,
      connectTimeout: CONNECT_TIMEOUT_MS,
      enableKeepAlive: true,
      // One statement a call: a name can never smuggle in a second one.
      multipleStatements: false,
    });
  }

  async grant(grant: ProviderGrant): Promise<ProviderResult> {
    const names = this.namesOf(grant);
    if (!names.ok) return names;
    const { role, account } = names.value;
    try {
      const refused = await this.guarded(names.value, async (connection) => {
        await this.run(connection, this.sql.grantRole(role, account));
        const current = await this.defaultRolesOf(connection, account);
        const wanted = this.sql.defaultRolesAfterGrant(current, await this.heldRolesOf(connection, account), role);
        if (!sameRoles(current, wanted)) await this.run(connection, this.sql.setDefaultRoles(account, wanted));
      });
      if (refused) return this.failed('grant', names.value, permanent(`Latch refused to grant "${role.name}" to "${account.user}": ${refused}`));
      return ok();
    } catch (error) {
      return this.failure(error, 'grant', names.value);
    }
  }

  async revoke(grant: ProviderGrant): Promise<ProviderResult> {
    const names = this.namesOf(grant);
    if (!names.ok) return names;
    const { role, account } = names.value;
    try {
      const refused = await this.guarded(names.value, async (connection) => {
        // REVOKE of a role not held is an error on both servers: revoking what is gone succeeds.
        if (await this.holds(connection, names.value)) await this.run(connection, this.sql.revokeRole(role, account));
        // MariaDB keeps a default role through REVOKE: the next login would find it named, and
        // a later grant of the same role would be active at once.
        const current = await this.defaultRolesOf(connection, account);
        const remaining = this.sql.defaultRolesAfterRevoke(current, await this.heldRolesOf(connection, account), role);
        if (!sameRoles(current, remaining)) await this.run(connection, this.sql.setDefaultRoles(account, remaining));
      });
      if (refused) {
        return this.failed('revoke', names.value, permanent(
          `Latch refused to revoke "${role.name}" from "${account.user}": ${refused}; nothing was changed, check by hand who holds "${role.name}"`,
        ));
      }
      if (await this.holds(this.pool, names.value)) {
        return this.failed('revoke', names.value, permanent(`"${account.user}" still holds role "${role.name}" after REVOKE`));
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
      return ok(await this.holds(this.pool, names.value));
    } catch (error) {
      return this.failure(error, 'check', names.value);
    }
  }

  /**
   * Looks again after a revocation: the account holds the role no more, and does not name it as a
   * default role (MariaDB keeps one through REVOKE). Open connections are not read here: the
   * process list does not say when a connection began, so one opened since (which has no role)
   * cannot be told from one that kept it; revoke itself ends them and waits until they are gone.
   */
  async verifyRevoked(grant: ProviderGrant): Promise<ProviderResult<RevocationCheck>> {
    const names = this.namesOf(grant);
    if (!names.ok) return names;
    const { role, account } = names.value;
    try {
      if (await this.holds(this.pool, names.value)) return ok({ gone: false, remains: `"${account.user}" still holds role "${role.name}"` });
      const defaults = await this.defaultRolesOf(this.pool, account);
      if (defaults.some((held) => sameRole(held, role))) return ok({ gone: false, remains: `"${account.user}" still has role "${role.name}" as a default role` });
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
      const refused = await this.refusal(this.pool, names.value);
      return refused ? permanent(refused) : ok();
    } catch (error) {
      return this.failure(error, 'check', names.value);
    }
  }

  /**
   * Every account (and, on MariaDB, every role) holding the role behind `roleId` directly, except
   * the grantor. An account on the settings' accountHost is listed by its user name, as principals
   * are; any other as `user@host`.
   */
  async list(roleId: string): Promise<ProviderResult<string[]>> {
    const name = this.roleNameOf(roleId);
    const problem = accountNameProblem(name, this.settings.dialect);
    if (problem) return permanent(`role "${roleId}" ${problem}`);
    const role = this.sql.role(name);
    try {
      if ((await rowsOf(this.pool, this.sql.roleExists(role))).length === 0) {
        return this.failed('list', { role }, permanent(`role "${name}" does not exist on the target`));
      }
      const grantor = await this.grantorOf(this.pool);
      const holders = await rowsOf<{ user: string; host: string }>(this.pool, this.sql.holdersOf(role));
      return ok(
        holders
          .filter((holder) => !(holder.user === grantor.user && holder.host === grantor.host))
          .map((holder) => (holder.host === this.settings.accountHost || holder.host === '' ? holder.user : `${holder.user}@${holder.host}`)),
      );
    } catch (error) {
      return this.failure(error, 'list', { role });
    }
  }

  async close(): Promise<void> {
    this.closing ??= this.pool.end();
    await this.closing;
  }

  /**
   * Ends every connection of the account's user, then waits until they are gone: a revoke is only
   * done when nothing can still use the role. A connection that outlives the wait is a transient
   * failure, so the job retries (REVOKE again, which finds nothing, and KILL again).
   */
  private async endSessions({ role, account }: Names): Promise<ProviderResult> {
    if (!(await this.seesEverySession())) {
      return this.failed('revoke', { role, account }, permanent(
        `revoked "${role.name}" from "${account.user}", but the grantor lacks the PROCESS privilege, so it cannot see their ` +
          'connections to end them (src/providers/mysql/README.md)',
      ));
    }
    const ids = (await rowsOf<{ id: number | string }>(this.pool, sessionsOf(account.user))).map((row) => Number(row.id));
    if (ids.length === 0) return ok();
    for (const id of ids) {
      try {
        await this.run(this.pool, killConnection(id));
      } catch (error) {
        // Ended on its own between the listing and the KILL.
        if (serverErrorOf(error) !== ER.NO_SUCH_THREAD) throw error;
      }
    }
    const deadline = Date.now() + this.sessionEndTimeoutMs;
    let remaining = ids.length;
    for (;;) {
      const left = await rowsOf<{ id: number }>(this.pool, sessionsOf(account.user));
      remaining = left.filter((row) => ids.includes(Number(row.id))).length;
      if (remaining === 0 || Date.now() >= deadline) break;
      await sleep(SESSION_POLL_INTERVAL_MS);
    }
    this.logger?.info(
      { provider: this.type, role: role.name, principal: account.user, sessionsKilled: ids.length, sessionsRemaining: remaining },
      'mysql provider: ended the account’s connections after revoke',
    );
    if (remaining > 0) {
      return this.failed('revoke', { role, account }, transient(
        `revoked "${role.name}" from "${account.user}", but ${remaining} of their connections had not ended ` +
          `${Math.round(this.sessionEndTimeoutMs / 1000)}s after KILL CONNECTION; will retry`,
      ));
    }
    return ok();
  }

  /** Whether the grantor holds PROCESS (or SUPER) itself: without it the process list shows only its own connections. */
  private async seesEverySession(): Promise<boolean> {
    const rows = await rowsOf(this.pool, {
      sql:
        "SELECT 1 AS found FROM information_schema.USER_PRIVILEGES WHERE PRIVILEGE_TYPE IN ('PROCESS', 'SUPER') " +
        "AND GRANTEE = CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''') LIMIT 1",
      values: [],
    });
    return rows.length > 0;
  }

  /**
   * Runs `change` on one connection that holds a server-side lock on the principal's user name,
   * right after checking the principal on it (principalRefusal), and returns why it refused, or
   * null once the change is made. Every Latch process's checks and changes for one account take
   * turns, so none can slip between another's check and its change (role statements commit at
   * once on these servers: there is no transaction to hold them together).
   */
  private async guarded(names: Names, change: (connection: mysql.PoolConnection) => Promise<void>): Promise<string | null> {
    const connection = await this.pool.getConnection();
    const lock = `latch_principal_${createHash('sha256').update(names.account.user).digest('hex').slice(0, 40)}`;
    let locked = false;
    try {
      const [row] = await rowsOf<{ got: number | null }>(connection, { sql: 'SELECT GET_LOCK(?, ?) AS got', values: [lock, PRINCIPAL_LOCK_WAIT_SECONDS] });
      if (Number(row?.got) !== 1) throw new PrincipalBusy(`another change to "${names.account.user}" held its lock for ${PRINCIPAL_LOCK_WAIT_SECONDS}s`);
      locked = true;
      const refused = await this.refusal(connection, names);
      if (refused) return refused;
      await change(connection);
      return null;
    } finally {
      // A connection whose lock could not be released (lost, or stuck) is closed instead of pooled:
      // the server drops a connection's locks with it.
      const released = !locked || (await rowsOf(connection, { sql: 'SELECT RELEASE_LOCK(?) AS released', values: [lock] }).then(() => true, () => false));
      if (released) connection.release();
      else connection.destroy();
    }
  }

  private async refusal(db: Queryable, names: Names): Promise<string | null> {
    return principalRefusal(db, this.sql, {
      ...names,
      grantor: await this.grantorOf(db),
      managedRoles: this.managedRoles,
      permanentHolders: this.permanentHolders,
    });
  }

  /** The account the grantor is, as the server matched it (CURRENT_USER, e.g. latch_grantor@%). */
  private async grantorOf(db: Queryable): Promise<Account> {
    const [row] = await rowsOf<{ me: string }>(db, { sql: 'SELECT CURRENT_USER() AS me', values: [] });
    const me = row?.me ?? '';
    const at = me.lastIndexOf('@');
    return at < 0 ? { user: me, host: '' } : { user: me.slice(0, at), host: me.slice(at + 1) };
  }

  private async holds(db: Queryable, { role, account }: Names): Promise<boolean> {
    return (await rowsOf(db, this.sql.holdsRole(role, account))).length > 0;
  }

  private async defaultRolesOf(db: Queryable, account: Account): Promise<RoleName[]> {
    const rows = await rowsOf<{ name: string; host: string | null }>(db, this.sql.defaultRolesOf(account));
    return rows.map((row) => ({ name: row.name, host: row.host ?? undefined }));
  }

  private async heldRolesOf(db: Queryable, account: Account): Promise<RoleName[]> {
    const rows = await rowsOf<{ name: string; host: string | null }>(db, this.sql.heldRolesOf(account));
    return rows.map((row) => ({ name: row.name, host: row.host ?? undefined }));
  }

  private async run(db: Queryable, statement: string): Promise<void> {
    await db.query({ sql: statement, values: [], timeout: QUERY_TIMEOUT_MS });
  }

  /** After "no such role or account": which of the two names the target lacks, when it can say. */
  private async missingName({ role, account }: Names): Promise<'role' | 'principal' | undefined> {
    try {
      if ((await rowsOf(this.pool, this.sql.roleExists(role))).length === 0) return 'role';
      if ((await rowsOf(this.pool, this.sql.accountFacts(account))).length === 0) return 'principal';
      return undefined;
    } catch {
      return undefined;
    }
  }

  private namesOf(grant: Pick<ProviderGrant, 'role' | 'principal'>): ProviderResult<Names> {
    const dialect = this.settings.dialect;
    const roleName = this.roleNameOf(grant.role);
    const roleProblem = accountNameProblem(roleName, dialect);
    if (roleProblem) return permanent(`role for "${grant.role}" ${roleProblem}`);
    const user = grant.principal;
    const userProblem = accountNameProblem(user, dialect);
    if (userProblem) return permanent(`account name ${userProblem}`);
    const reserved = reservedUserProblem(user);
    if (reserved) return permanent(reserved);
    return ok({ role: this.sql.role(roleName), account: { user, host: this.settings.accountHost } });
  }

  private roleNameOf(roleId: string): string {
    // hasOwn: a role id such as `constructor` must not find Object.prototype's.
    const roles = this.settings.roles ?? {};
    return Object.hasOwn(roles, roleId) ? (roles[roleId] ?? roleId) : roleId;
  }

  private async failure<T>(error: unknown, operation: string, names: Partial<Names>): Promise<ProviderResult<T>> {
    const fields = { role: names.role?.name, principal: names.account?.user };
    if (error instanceof PrincipalBusy) return this.failed(operation, names, transient(`${error.message}; will retry`));
    const context: FailureContext = { operation, ...fields, connectionStringEnv: this.settings.connectionStringEnv };
    const errno = serverErrorOf(error);
    if (errno !== undefined && NOT_FOUND_ERRORS.has(errno) && names.role && names.account) {
      const missing = await this.missingName({ role: names.role, account: names.account });
      if (missing) context.missing = missing;
    }
    const failure = classifyMysqlError(error, context);
    this.logger?.warn({ provider: this.type, operation, ...fields, failureKind: failure.kind, ...this.describe(error) }, `mysql provider: ${operation} failed`);
    return { ok: false, failure };
  }

  private failed<T>(operation: string, names: Partial<Names>, result: ProviderResult<never>): ProviderResult<T> {
    if (!result.ok) {
      this.logger?.warn(
        { provider: this.type, operation, role: names.role?.name, principal: names.account?.user, failureKind: result.failure.kind },
        result.failure.message,
      );
    }
    return result;
  }

  /** An error as log fields: its codes and a scrubbed message, never the error object itself. */
  private describe(error: unknown): Record<string, string | number | undefined> {
    const fields = error as { code?: unknown; errno?: unknown; message?: unknown } | undefined;
    return {
      errorCode: typeof fields?.code === 'string' ? fields.code : undefined,
      errorNumber: typeof fields?.errno === 'number' ? fields.errno : undefined,
      errorMessage: typeof fields?.message === 'string' ? this.scrub(fields.message) : undefined,
    };
  }
}

function sameRoles(a: readonly RoleName[], b: readonly RoleName[]): boolean {
  return a.length === b.length && a.every((role, index) => sameRole(role, b[index]!));
}

export interface MysqlProviderDependencies extends ProviderBuildOptions {
  logger?: Logger;
}

/** The `mysql` provider type: settings validated, the connection string read from `env`. */
export const createMysqlProvider = function createMysqlProvider(
  settings: Record<string, unknown>,
  env: Record<string, string | undefined>,
  { logger, guard }: MysqlProviderDependencies = {},
) {
  const parsed = parseMysqlSettings(settings);
  if (!parsed.ok) return parsed;
  const variable = parsed.settings.connectionStringEnv;
  const connectionString = env[variable];
  // An empty value in a .env file means "not set", as for Latch's own variables.
  if (connectionString === undefined || connectionString.trim() === '') {
    return { ok: false, problems: [`settings.connectionStringEnv: ${variable} is not set`] };
  }
  if (!isMysqlUrl(connectionString)) {
    return {
      ok: false,
      problems: [`settings.connectionStringEnv: ${variable} is not a mysql:// connection string (percent-encode special characters in the password)`],
    };
  }
  const managedRoles = (guard?.peers ?? []).flatMap((peer) => rolesOf(peer.settings, peer.roles));
  return {
    ok: true,
    provider: new MysqlRoleProvider({ settings: parsed.settings, connectionString, logger, managedRoles, permanentHolders: guard?.permanentHolders ?? [] }),
  };
} satisfies ProviderFactory;

/** The role names a mysql resource grants: each role id through its settings' mapping. */
function rolesOf(settings: Record<string, unknown>, roleIds: string[]): string[] {
  const parsed = parseMysqlSettings(settings);
  const mapping = parsed.ok ? (parsed.settings.roles ?? {}) : {};
  return roleIds.map((roleId) => (Object.hasOwn(mapping, roleId) ? mapping[roleId]! : roleId));
}

function isMysqlUrl(value: string): boolean {
  try {
    return new URL(value).protocol === 'mysql:';
  } catch {
    return false;
  }
}
