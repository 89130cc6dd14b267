import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { migrationChecksum, scriptMatchesChecksum } from '../../../src/store/migration-checksum.ts';

describe('the checksum of a migration, as Prisma stores it in _prisma_migrations', () => {
  it('is the SHA-256 of the script in 64 hex digits, zeros kept', () => {
    // The value Prisma's engine's own test expects for this script.
    expect(migrationChecksum('hello')).toBe('2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824');
    expect(migrationChecksum('CREATE TABLE t (id int);\n')).toHaveLength(64);
    expect(migrationChecksum('é')).toBe(createHash('sha256').update(Buffer.from('é', 'utf8')).digest('hex'));
  });

  it('matches the same script after git turned its line endings either way', () => {
    const unix = 'ab\ncd\nef\ngh\rab\n';
    const windows = 'ab\r\ncd\r\nef\r\ngh\rab\r\n';
    for (const script of [unix, windows]) {
      for (const stored of [unix, windows]) expect(scriptMatchesChecksum(script, migrationChecksum(stored))).toBe(true);
    }
  });

  it('matches a checksum an old engine stored without zero padding', () => {
    const script = 'CREATE TABLE t (id int);\n';
    const unpadded = [...createHash('sha256').update(script).digest()].map((byte) => byte.toString(16)).join('');
    // Only a digest with a byte below 0x10 loses digits; this script has one.
    expect(unpadded.length).toBeLessThan(64);
    expect(scriptMatchesChecksum(script, unpadded)).toBe(true);
  });

  it('does not match a script that changed', () => {
    expect(scriptMatchesChecksum('abc', migrationChecksum('abcd'))).toBe(false);
    expect(scriptMatchesChecksum('abc\n', migrationChecksum('abc'))).toBe(false);
    expect(scriptMatchesChecksum('abc', '')).toBe(false);
  });
});
