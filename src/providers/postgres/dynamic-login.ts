import { randomBytes } from 'node:crypto';

/**
 * The login role Latch creates for one request when a resource hands out credentials of its own
 * (`credentials: dynamic`). Its name comes from the request id, so every retry of a grant, its
 * revocation and the fetch of its password find the same role, and two requests never share one.
 * Only names of this shape are ever created or dropped in that mode: a request can never make
 * Latch drop a person's account.
 */

const PREFIX = 'latch_';
const NAME_PATTERN = /^latch_[0-9a-f]{32}$/;
const REQUEST_ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Written on the role (`COMMENT ON ROLE`) in the transaction that creates it: a role of the right
 * name without it was not made by Latch, and Latch neither changes nor drops it.
 */
export const DYNAMIC_LOGIN_MARKER = 'latch: temporary login, dropped when its access ends';

/** Password length in random bytes: 32 bytes, 43 base64url characters (256 bits). */
const PASSWORD_BYTES = 32;

/** `latch_<the request id's 32 hex digits>`: 38 bytes, within PostgreSQL's 63. */
export function dynamicLoginName(requestId: string): string {
  if (!REQUEST_ID_PATTERN.test(requestId)) throw new Error('a dynamic login is named after a request id (a uuid)');
  return PREFIX + requestId.replaceAll('-', '').toLowerCase();
}

export function isDynamicLoginName(name: string): boolean {
  return NAME_PATTERN.test(name);
}

/** A new password: random, URL- and shell-safe, never derived from anything Latch keeps. */
export function newDynamicPassword(): string {
  return randomBytes(PASSWORD_BYTES).toString('base64url');
}
