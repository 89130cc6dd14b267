import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readStoredLogin, removeStoredLogin, storedLoginPath, writeStoredLogin } from '../../../src/cli/stored-login.ts';

const login = { url: 'https://latch.example.com', token: `latch_${'a'.repeat(32)}_${'b'.repeat(43)}`, user: 'U0ALICE01', expiresAt: '2026-12-04T20:00:00.000Z' };

describe('the login `latch login` keeps', () => {
  it('is written for its owner alone, whatever the umask, and read back', () => {
    const env = { LATCH_CONFIG_DIR: join(mkdtempSync(join(tmpdir(), 'stored-login-')), 'latch') };
    const before = process.umask(0o000);
    try {
      writeStoredLogin(login, env);
    } finally {
      process.umask(before);
    }
    const path = storedLoginPath(env);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(env.LATCH_CONFIG_DIR).mode & 0o777).toBe(0o700);
    expect(readStoredLogin(env)).toEqual(login);
    removeStoredLogin(env);
    expect(readStoredLogin(env)).toBeNull();
  });

  it('lives under XDG_CONFIG_HOME, else ~/.config', () => {
    expect(storedLoginPath({ XDG_CONFIG_HOME: '/home/a/.cfg' })).toBe('/home/a/.cfg/latch/login.json');
    expect(storedLoginPath({ HOME: '/x' })).toMatch(/\.config\/latch\/login\.json$/);
  });

  it('is ignored when the file is not one of Latch\'s', () => {
    const dir = mkdtempSync(join(tmpdir(), 'stored-login-'));
    writeFileSync(join(dir, 'login.json'), '{"token": "ghp_notours"}');
    expect(readStoredLogin({ LATCH_CONFIG_DIR: dir })).toBeNull();
    writeFileSync(join(dir, 'login.json'), 'not json');
    expect(readStoredLogin({ LATCH_CONFIG_DIR: dir })).toBeNull();
  });
});
