import type pg from 'pg';

/**
 * Which database accounts Latch must never grant to or revoke from, whatever identity a request
 * resolved to. A Slack profile's email decides a principal name; without this check
 * `latch_grantor@anything` became the grantor itself, and a later revoke took the grantor's own
 * ADMIN OPTION away. Asked inside the transaction that grants or revokes (and when a request is
 * made), on the target's own catalog, so it holds for accounts Latch has never heard of.
 */

export interface PrincipalGuardInput {
  /** The database role being granted or revoked. */
  role: string;
  principal: string;
  /** Every database role the policy grants through postgres providers (`role` is added). */
  managedRoles: readonly string[];
  /** The policy's permanent holders: kept out by name, without asking the target. */
  permanentHolders: readonly string[];
}

interface PrincipalFacts {
  grantor: boolean;
  grantor_member: boolean;
  superuser: boolean;
  createrole: boolean;
  can_login: boolean;
  managed: boolean;
  admin_of: string[];
}

// One round trip. `pg_has_role(..., 'MEMBER WITH ADMIN OPTION')` sees ADMIN OPTION held directly
// (pg_auth_members.admin_option) and through roles the principal is a member of.
const FACTS_SQL = `
  SELECT p.rolname IN (current_user, session_user) AS grantor,
         pg_has_role(p.oid, current_user, 'MEMBER') OR pg_has_role(p.oid, session_user, 'MEMBER') AS grantor_member,
         p.rolsuper AS superuser,
         p.rolcreaterole AS createrole,
         p.rolcanlogin AS can_login,
         p.rolname::text = ANY($2::text[]) AS managed,
         array(
           SELECT r.rolname::text FROM pg_roles r
           WHERE r.rolname::text = ANY($2::text[]) AND r.oid <> p.oid AND pg_has_role(p.oid, r.oid, 'MEMBER WITH ADMIN OPTION')
           ORDER BY 1
         ) AS admin_of
  FROM pg_roles p
  WHERE p.rolname = $1::name`;

/**
 * Why `principal` is not an account Latch may change, as a phrase fit to follow "refused: ", or
 * null when it may. An account the target does not have is not refused here: nothing can be taken
 * from it, and a grant to it fails on its own with "does not exist".
 */
export async function principalRefusal(db: pg.Pool | pg.PoolClient, input: PrincipalGuardInput): Promise<string | null> {
  const { principal, role } = input;
  if (input.permanentHolders.some((holder) => holder.toLowerCase() === principal.toLowerCase())) {
    return 'the policy lists it among permanentHolders, the accounts that hold their access on purpose';
  }
  const managed = [...new Set([...input.managedRoles, role])];
  const { rows } = await db.query<PrincipalFacts>(FACTS_SQL, [principal, managed]);
  const facts = rows[0];
  if (!facts) return null;
  if (facts.grantor) return 'it is the account Latch itself connects as (the grantor)';
  // Before membership: a superuser is a member of every role.
  if (facts.superuser) return 'it is a superuser';
  if (facts.grantor_member) return 'it is a member of the account Latch itself connects as (the grantor), and holds its privileges';
  if (facts.createrole) return 'it has CREATEROLE, so it administers roles itself';
  if (facts.managed) return 'it is a role Latch grants to people, not a person’s login';
  const [adminOf] = facts.admin_of;
  if (adminOf !== undefined) return `it holds ADMIN OPTION on "${adminOf}", a role Latch grants`;
  if (!facts.can_login) return 'it cannot log in (a group role), so it is nobody’s personal account';
  return null;
}
