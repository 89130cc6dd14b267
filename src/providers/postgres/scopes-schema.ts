/** The schema `latch scopes install` creates on a target: the grants table and its functions (row-scopes.ts). */
export const SCOPES_SCHEMA = 'latch_scopes';

/**
 * The scope of a table grant's rows (table-grants.ts: value `schema.table`, the grant's expiry):
 * `@` is outside every row scope's name (row-scopes.ts's SCOPE_NAME), and `scoped()` leaves these
 * rows out, so a login granted a table is not thereby narrowed on the row-scoped tables it reads
 * otherwise.
 */
export const TABLE_SCOPE = '@table';
