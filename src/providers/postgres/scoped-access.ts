import pg from 'pg';
import type { RequestScope } from '../../domain/request-scope.ts';
import type { ScopedAccessFound } from '../provider.ts';
import { removeScopeRows, writeScopeRows } from './row-scopes.ts';
import { SCOPES_SCHEMA, TABLE_SCOPE } from './scopes-schema.ts';
import type { PostgresSettings } from './settings.ts';
import { qualifiedTableProblem, quotedTable, type TablePrivilege } from './table-grants.ts';

/**
 * A scoped grant (ProviderGrant.scope, issue 17) is an access of its own on the target, keyed by
 * its request: a NOLOGIN role `latch_s_<request id hex>` that the principal is made a member of.
 * It holds either the resource's database role (row scopes then narrow what that role reads to
 * the granted values) or, for a table grant, privileges on the named tables alone. Revocation
 * finds everything by the request id: the role, its privileges, the scope rows. No scope value is
 * needed to take access away, and two scoped grants of one login never share anything.
 */

const PREFIX = 'latch_s_';
const NAME_PATTERN = /^latch_s_[0-9a-f]{32}$/;
const REQUEST_ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Written on the role in the transaction that creates it: a role of the right name without it is not Latch's. */
export const SCOPED_ROLE_MARKER = 'latch: role of one scoped request, dropped when its access ends';

/** `latch_s_<the request id's 32 hex digits>`; null for a request id that is not a uuid. */
export function scopedRoleName(requestId: string): string | null {
  return REQUEST_ID_PATTERN.test(requestId) ? PREFIX + requestId.replaceAll('-', '').toLowerCase() : null;
}

export function isScopedRoleName(name: string): boolean {
  return NAME_PATTERN.test(name);
}

/** The request id a scoped role's name was made from. */
export function requestIdOfScopedRole(name: string): string {
  const hex = name.slice(PREFIX.length);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** What a scoped grant gives, worked out from the settings before any SQL is written. */
export interface ScopePlan {
  /** Row scope → values: written as scope rows keyed on the login. */
  rows: Record<string, string[]>;
  /** Tables granted (`schema.table`), with `privileges`; empty: the database role is granted instead. */
  tables: string[];
  privileges: TablePrivilege[];
}

/**
 * The plan for `scope` under these settings, or why it cannot be granted (a sentence a person can
 * read). Every name must be a row scope or the table-grant scope; every value a non-empty string;
 * every table one the settings list, in the strict `schema.table` shape.
 */
export function planScope(settings: PostgresSettings, roleId: string, scope: RequestScope): { ok: true; plan: ScopePlan } | { ok: false; problem: string } {
  const rowScopes = settings.rowScopes ?? {};
  const tableGrants = settings.tableGrants;
  const plan: ScopePlan = { rows: {}, tables: [], privileges: [] };
  const names = Object.keys(scope);
  if (names.length === 0) return { ok: false, problem: 'the scope names no parameter' };
  for (const name of names) {
    const values = [...new Set(scope[name] ?? [])];
    if (values.length === 0) return { ok: false, problem: `${name}: no value was given` };
    const bad = values.find((value) => value.length === 0 || value.length > 200 || value.includes('\0'));
    if (bad !== undefined) return { ok: false, problem: `${name}: a value must be 1 to 200 characters, without NUL` };
    if (tableGrants && name === tableGrants.scope) {
      for (const table of values) {
        if (qualifiedTableProblem(table) || !tableGrants.tables.includes(table)) {
          return { ok: false, problem: `${name}: ${shown(table)} is not one of the tables this resource grants (${tableGrants.tables.join(', ')})` };
        }
      }
      const privileges = Object.hasOwn(tableGrants.privileges, roleId) ? tableGrants.privileges[roleId] : undefined;
      if (!privileges || privileges.length === 0) return { ok: false, problem: `${name}: role ${roleId} grants no table privileges here (settings.tableGrants.privileges has no ${roleId})` };
      plan.tables = values.sort();
      plan.privileges = [...new Set(privileges)];
    } else if (Object.hasOwn(rowScopes, name)) {
      plan.rows[name] = values.sort();
    } else {
      const known = [...Object.keys(rowScopes), ...(tableGrants ? [tableGrants.scope] : [])];
      return { ok: false, problem: `${shown(name)} is not a scope of this resource${known.length > 0 ? ` (it has ${known.join(', ')})` : ' (it declares no rowScopes or tableGrants)'}` };
    }
  }
  return { ok: true, plan };
}

/** A value as it appears in a message: quoted, and cut short. */
export function shown(value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
}

type Queryable = Pick<pg.ClientBase, 'query'>;

/** Whether a role named `name` exists, and whether it carries Latch's marker; null when absent. */
export async function scopedRoleFacts(db: Queryable, name: string): Promise<{ marked: boolean } | null> {
  const { rows } = await db.query<{ marked: boolean }>(
    `SELECT shobj_description(oid, 'pg_authid') IS NOT DISTINCT FROM $2::text AS marked FROM pg_roles WHERE rolname = $1::name`,
    [name, SCOPED_ROLE_MARKER],
  );
  return rows[0] ?? null;
}

/**
 * In the caller's transaction: the scope rows first (so the login is narrowed before it holds
 * anything), then the request's role (created, or found on a retry), what it holds, and last the
 * membership. `baseRole` is the database role a grant without tables gives through it.
 */
export async function grantScoped(
  client: Queryable,
  input: { roleName: string; baseRole: string; login: string; requestId: string; expiresAt: Date; plan: ScopePlan },
): Promise<string | null> {
  const { roleName, plan } = input;
  const role = pg.escapeIdentifier(roleName);
  const rows: Record<string, string[]> = { ...plan.rows };
  if (plan.tables.length > 0) rows[TABLE_SCOPE] = plan.tables;
  await writeScopeRows(client, { login: input.login, requestId: input.requestId, expiresAt: input.expiresAt, values: rows });
  const facts = await scopedRoleFacts(client, roleName);
  if (facts && !facts.marked) return `a role named "${roleName}" exists that Latch did not create; Latch neither uses nor drops it`;
  if (!facts) {
    // INHERIT: its members inherit what it holds (the database role, or the table privileges).
    await client.query(`CREATE ROLE ${role} NOLOGIN INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION`);
    await client.query(`COMMENT ON ROLE ${role} IS ${pg.escapeLiteral(SCOPED_ROLE_MARKER)}`);
  }
  if (plan.tables.length > 0) {
    // Privileges from a fixed list, tables after the shape check and listed in the settings.
    await client.query(`GRANT ${plan.privileges.join(', ')} ON TABLE ${plan.tables.map(quotedTable).join(', ')} TO ${role}`);
  } else {
    await client.query(`GRANT ${pg.escapeIdentifier(input.baseRole)} TO ${role}`);
  }
  await client.query(`GRANT ${role} TO ${pg.escapeIdentifier(input.login)}`);
  return null;
}

/** Takes the login's membership in the request's role away (when both exist). */
export async function revokeScopedMembership(client: Queryable, roleName: string, login: string): Promise<string | null> {
  const facts = await scopedRoleFacts(client, roleName);
  if (!facts) return null;
  if (!facts.marked) return `a role named "${roleName}" exists that Latch did not create; nothing was changed`;
  const { rows } = await client.query<{ exists: boolean }>(`SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1::name) AS exists`, [login]);
  if (rows[0]?.exists) await client.query(`REVOKE ${pg.escapeIdentifier(roleName)} FROM ${pg.escapeIdentifier(login)}`);
  return null;
}

/**
 * Revokes whatever the request's role holds in this database (table privileges, found in the
 * catalog, so no scope value is needed) and drops it; dropping ends its memberships both ways.
 */
export async function dropScopedRole(client: Queryable, roleName: string): Promise<string | null> {
  const facts = await scopedRoleFacts(client, roleName);
  if (!facts) return null;
  if (!facts.marked) return `a role named "${roleName}" exists that Latch did not create; nothing was changed`;
  const role = pg.escapeIdentifier(roleName);
  const { rows } = await client.query<{ schema: string; name: string }>(
    `SELECT n.nspname::text AS schema, c.relname::text AS name
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) AS acl
      WHERE acl.grantee = (SELECT oid FROM pg_roles WHERE rolname = $1::name)
      GROUP BY 1, 2`,
    [roleName],
  );
  for (const table of rows) {
    await client.query(`REVOKE ALL ON TABLE ${pg.escapeIdentifier(table.schema)}.${pg.escapeIdentifier(table.name)} FROM ${role}`);
  }
  const owns = await client.query<{ owns: boolean }>(`SELECT EXISTS (SELECT 1 FROM pg_shdepend d JOIN pg_roles r ON r.oid = d.refobjid WHERE r.rolname = $1::name AND d.deptype = 'o') AS owns`, [roleName]);
  if (owns.rows[0]?.owns) {
    // Something its member made while acting as it (SET ROLE, then CREATE TABLE): the grantor
    // becomes a member for the moment (CREATEROLE allows it) so that DROP OWNED may remove it, in
    // the same transaction as the DROP ROLE.
    await client.query(`GRANT ${role} TO CURRENT_USER`);
    await client.query(`DROP OWNED BY ${role}`);
  }
  await client.query(`DROP ROLE ${role}`);
  return null;
}

/** Whether the scopes' grants table exists on this target (it does once `latch scopes install` was applied). */
export async function scopeTableExists(db: Queryable): Promise<boolean> {
  const { rows } = await db.query<{ found: string | null }>(`SELECT to_regclass('${SCOPES_SCHEMA}.grants')::text AS found`);
  return rows[0]?.found != null;
}

/** Removes the request's scope rows of `login`: the last step of a revocation. */
export async function removeRequestScopeRows(db: Queryable, login: string, requestId: string): Promise<number> {
  if (!REQUEST_ID_PATTERN.test(requestId) || !(await scopeTableExists(db))) return 0;
  return removeScopeRows(db, { login, requestId });
}

/** How many scope rows of the request remain for `login`. */
export async function requestScopeRowCount(db: Queryable, login: string, requestId: string): Promise<number> {
  // Scope rows are keyed by a uuid: a request id of another shape has none.
  if (!REQUEST_ID_PATTERN.test(requestId) || !(await scopeTableExists(db))) return 0;
  const { rows } = await db.query<{ left: number }>(
    `SELECT count(*)::int AS left FROM ${pg.escapeIdentifier(SCOPES_SCHEMA)}.grants WHERE login = $1 AND request_id = $2::uuid`,
    [login, requestId],
  );
  return rows[0]?.left ?? 0;
}


/**
 * Everything scoped grants made that is on the target now: each marked request role with its
 * members and the tables it holds privileges on, and each (login, request) of the scope rows.
 */
export async function scopedLeftovers(db: Queryable): Promise<ScopedAccessFound[]> {
  const found: ScopedAccessFound[] = [];
  const { rows: roles } = await db.query<{ role: string; members: string[]; tables: string[] }>(
    `SELECT r.rolname::text AS role,
            array(SELECT m.rolname::text FROM pg_auth_members am JOIN pg_roles m ON m.oid = am.member WHERE am.roleid = r.oid AND m.rolname <> current_user ORDER BY 1) AS members,
            array(SELECT DISTINCT c.oid::regclass::text FROM pg_class c, aclexplode(c.relacl) acl WHERE acl.grantee = r.oid ORDER BY 1) AS tables
       FROM pg_roles r
      WHERE r.rolname ~ '^latch_s_[0-9a-f]{32}$' AND shobj_description(r.oid, 'pg_authid') IS NOT DISTINCT FROM $1::text`,
    [SCOPED_ROLE_MARKER],
  );
  for (const role of roles) {
    const holds = role.tables.length > 0 ? `privileges on ${role.tables.join(', ')}` : 'a database role';
    const requestId = requestIdOfScopedRole(role.role);
    if (role.members.length === 0) found.push({ requestId, login: null, what: `role ${role.role} (${holds}), with no member` });
    for (const member of role.members) found.push({ requestId, login: member, what: `role ${role.role} (${holds})` });
  }
  if (await scopeTableExists(db)) {
    const { rows } = await db.query<{ login: string; request_id: string; scopes: string[] }>(
      `SELECT login::text AS login, request_id::text AS request_id, array_agg(label ORDER BY label) AS scopes
         FROM (SELECT DISTINCT login, request_id, CASE WHEN scope = $1 THEN 'table ' || value ELSE scope END AS label FROM ${pg.escapeIdentifier(SCOPES_SCHEMA)}.grants) AS g
        GROUP BY 1, 2 ORDER BY 1, 2`,
      [TABLE_SCOPE],
    );
    // Row scope values can be personal data (a customer id): the line names the scopes only.
    for (const row of rows) found.push({ requestId: row.request_id, login: row.login, what: `scope rows (${row.scopes.join(', ')})` });
  }
  return found;
}
