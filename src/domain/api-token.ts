import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * The text of a machine's API token: `latch_<token id, 32 hex>_<secret, 43 base64url>`. The fixed
 * prefix and shape let secret scanners (GitHub's, gitleaks) find a leaked one; the id names the
 * stored row, so a token is checked by one primary-key read and a constant-time comparison of its
 * secret's hash; the secret is 256 random bits and is never stored, only its SHA-256.
 */

export const TOKEN_PREFIX = 'latch_';
const SECRET_BYTES = 32;
const TOKEN_PATTERN = /^latch_([0-9a-f]{32})_([A-Za-z0-9_-]{43})$/;

export interface TokenParts {
  /** The stored row's id (a UUID). */
  id: string;
  secret: string;
}

/** A new secret and its hash; the caller stores the hash and prints `formatToken` once. */
export function newTokenSecret(): { secret: string; secretHash: string } {
  const secret = randomBytes(SECRET_BYTES).toString('base64url');
  return { secret, secretHash: hashTokenSecret(secret) };
}

export function formatToken(id: string, secret: string): string {
  return `${TOKEN_PREFIX}${id.replaceAll('-', '')}_${secret}`;
}

/** The parts of a token's text, or null when it is not one of Latch's tokens at all. */
export function parseToken(text: string): TokenParts | null {
  const match = TOKEN_PATTERN.exec(text);
  if (!match) return null;
  const hex = match[1]!;
  const id = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  return { id, secret: match[2]! };
}

export function hashTokenSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Whether `secret` is the one whose hash was stored, in time that does not depend on where they differ. */
export function secretMatches(secret: string, storedHash: string): boolean {
  const given = Buffer.from(hashTokenSecret(secret), 'hex');
  const stored = Buffer.from(storedHash, 'hex');
  return given.length === stored.length && timingSafeEqual(given, stored);
}
