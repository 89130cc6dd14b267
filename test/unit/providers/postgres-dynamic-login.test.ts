import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { dynamicLoginName, isDynamicLoginName, newDynamicPassword } from '../../../src/providers/postgres/dynamic-login.ts';
import { postgresProvider } from '../../../src/providers/postgres/definition.ts';
import { scramSha256Verifier } from '../../../src/providers/postgres/scram-verifier.ts';
import { parsePostgresSettings } from '../../../src/providers/postgres/settings.ts';

describe('the login Latch names after a request', () => {
  it('is latch_ and the request id’s 32 hex digits, lower case, within PostgreSQL’s 63 bytes', () => {
    const name = dynamicLoginName('0190F0A1-B2C3-7D4E-8F50-6172839405AB');
    expect(name).toBe('latch_0190f0a1b2c37d4e8f506172839405ab');
    expect(isDynamicLoginName(name)).toBe(true);
    expect(Buffer.byteLength(name)).toBeLessThanOrEqual(63);
  });

  it('refuses anything but a uuid, so no text from a request can shape the name', () => {
    for (const id of ['', 'prod', '0190f0a1-b2c3-7d4e-8f50-6172839405ab"; DROP ROLE x; --', '../../etc', '0190f0a1b2c37d4e8f506172839405ab']) {
      expect(() => dynamicLoginName(id)).toThrow(/uuid/);
    }
  });

  it('tells its own names from anyone else’s', () => {
    for (const name of ['alice', 'latch_grantor', 'latch_', 'latch_0190F0A1B2C37D4E8F506172839405AB', 'latch_0190f0a1b2c37d4e8f506172839405ab ', 'xlatch_0190f0a1b2c37d4e8f506172839405ab']) {
      expect(isDynamicLoginName(name), name).toBe(false);
    }
  });

  it('makes passwords of 32 random bytes, base64url, never twice the same', () => {
    const passwords = new Set(Array.from({ length: 50 }, () => newDynamicPassword()));
    expect(passwords.size).toBe(50);
    for (const password of passwords) expect(password).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('is what the postgres definition names a request’s principal, only with credentials: dynamic', () => {
    const id = '0190f0a1-b2c3-7d4e-8f50-6172839405ab';
    expect(postgresProvider.loginFor!({ connectionStringEnv: 'DB_URL', credentials: 'dynamic' }, 'read', id)).toBe('latch_0190f0a1b2c37d4e8f506172839405ab');
    expect(postgresProvider.loginFor!({ connectionStringEnv: 'DB_URL' }, 'read', id)).toBeUndefined();
    expect(postgresProvider.createsLogins!({ connectionStringEnv: 'DB_URL', credentials: 'grant' })).toBe(false);
  });
});

describe('the SCRAM-SHA-256 verifier sent instead of a password', () => {
  it('matches RFC 7677’s example exchange (password "pencil"): its server key signs the same ServerSignature', () => {
    const salt = Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64');
    const verifier = scramSha256Verifier('pencil', salt, 4096);
    const match = /^SCRAM-SHA-256\$4096:W22ZaJ0SNY7soEsUEjb6gQ==\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$/.exec(verifier);
    expect(match).not.toBeNull();
    const nonce = 'rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0';
    const authMessage = `n=user,r=rOprNGfwEbeRWgbNEkqO,r=${nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=${nonce}`;
    const serverKey = Buffer.from(match![2]!, 'base64');
    expect(createHmac('sha256', serverKey).update(authMessage).digest('base64')).toBe('6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=');
    // The client proof of the same exchange, checked as the server checks it, against StoredKey.
    const storedKey = Buffer.from(match![1]!, 'base64');
    const proof = Buffer.from('dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=', 'base64');
    const signature = createHmac('sha256', storedKey).update(authMessage).digest();
    const clientKey = Buffer.from(proof.map((byte, i) => byte ^ signature[i]!));
    expect(createHash('sha256').update(clientKey).digest().equals(storedKey)).toBe(true);
  });

  it('uses a new salt each time and never contains the password', () => {
    const password = newDynamicPassword();
    const first = scramSha256Verifier(password);
    expect(first).not.toBe(scramSha256Verifier(password));
    expect(first).not.toContain(password);
  });

  it('refuses a password that would need SASLprep', () => {
    expect(() => scramSha256Verifier('pässwörd')).toThrow(/ASCII/);
    expect(() => scramSha256Verifier('with space')).toThrow(/ASCII/);
  });
});

describe('postgres settings for dynamic credentials', () => {
  it('takes credentials, connectionLimit, credentialsHost and credentialsPort', () => {
    const parsed = parsePostgresSettings({ connectionStringEnv: 'DB_URL', credentials: 'dynamic', connectionLimit: 3, credentialsHost: 'db.internal', credentialsPort: 6432 });
    expect(parsed).toMatchObject({ ok: true, settings: { credentials: 'dynamic', connectionLimit: 3, credentialsHost: 'db.internal', credentialsPort: 6432 } });
    expect(parsePostgresSettings({ connectionStringEnv: 'DB_URL' })).toMatchObject({ ok: true, settings: { credentials: 'grant' } });
  });

  it('names the setting at fault, with a message fit for a person', () => {
    const problems = (settings: Record<string, unknown>) => {
      const parsed = parsePostgresSettings({ connectionStringEnv: 'DB_URL', ...settings });
      return parsed.ok ? [] : parsed.problems;
    };
    expect(problems({ credentials: 'temporary' })).toEqual([expect.stringMatching(/credentials.*must be grant or dynamic/)]);
    expect(problems({ credentials: 'dynamic', connectionLimit: 0 })).toEqual([expect.stringMatching(/connectionLimit.*at least 1/)]);
    expect(problems({ credentials: 'dynamic', connectionLimit: 2.5 })).toEqual([expect.stringMatching(/connectionLimit.*whole number/)]);
    expect(problems({ credentials: 'dynamic', credentialsPort: 70_000 })).toEqual([expect.stringMatching(/credentialsPort.*port number/)]);
    expect(problems({ connectionLimit: 3 })).toEqual([expect.stringMatching(/connectionLimit.*only with credentials: dynamic/)]);
  });
});
