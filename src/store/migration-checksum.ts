import { createHash } from 'node:crypto';

/**
 * The checksum Prisma's schema engine stores in `_prisma_migrations.checksum`: the SHA-256 of the
 * migration script, as 64 lower-case hex digits. Written the same way here, so `prisma migrate
 * deploy` and `prisma migrate status` accept a history this runner wrote.
 */
export function migrationChecksum(script: string): string {
  return createHash('sha256').update(script, 'utf8').digest('hex');
}

/**
 * Whether a script is the one a stored checksum was taken of, as Prisma's engine decides it: git
 * may have turned LF into CRLF (or back) since, and engines before prisma-engines#1887 stored the
 * hex digits without zero padding.
 */
export function scriptMatchesChecksum(script: string, checksum: string): boolean {
  const variants = [script, script.replaceAll('\r\n', '\n'), script.replaceAll('\n', '\r\n')];
  return variants.some((variant) => {
    const digest = createHash('sha256').update(variant, 'utf8').digest();
    return (checksum.length === 64 ? digest.toString('hex') : unpaddedHex(digest)) === checksum;
  });
}

function unpaddedHex(digest: Buffer): string {
  return [...digest].map((byte) => byte.toString(16)).join('');
}
