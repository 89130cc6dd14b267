import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

/**
 * A password as PostgreSQL stores it under `password_encryption = scram-sha-256`:
 * `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (RFC 5802 and RFC 7677, the format
 * of pg_authid.rolpassword). `ALTER ROLE … PASSWORD '<verifier>'` stores it as it is, so the
 * clear password never travels in SQL text, where the server's statement log or an error could
 * repeat it. node:crypto gives every primitive; the format is four lines, not worth a dependency.
 */

// PostgreSQL's own default (scram_iterations); a login does this many rounds once per connection.
export const SCRAM_ITERATIONS = 4096;
const SALT_BYTES = 16;
const KEY_BYTES = 32;

/**
 * The verifier of `password`. The password must be ASCII: SASLprep leaves such a password as it is,
 * so no normalisation library is needed (Latch makes its passwords base64url).
 */
export function scramSha256Verifier(password: string, salt: Buffer = randomBytes(SALT_BYTES), iterations = SCRAM_ITERATIONS): string {
  if (!/^[\x21-\x7e]+$/.test(password)) throw new Error('a SCRAM verifier is made here only for printable ASCII passwords');
  const salted = pbkdf2Sync(password, salt, iterations, KEY_BYTES, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}
