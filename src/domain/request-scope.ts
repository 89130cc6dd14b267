/**
 * What a scoped request asks for beyond its role (issue 17): the values of each scope parameter
 * its role declares, e.g. `{ customer: ['4711'] }` or `{ tables: ['public.orders'] }`. Parameter
 * names are the role's; values are plain strings, checked against the role's policy before they
 * are stored, and never turned into SQL text anywhere (providers bind them as parameters or quote
 * them as identifiers after a shape check).
 *
 * An unscoped request has no scope (null where stored): the whole role, as before.
 */
export type RequestScope = Readonly<Record<string, readonly string[]>>;
