import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { z } from 'zod';

/**
 * Where `latch login` keeps a person's token between commands: one JSON file, readable by its
 * owner only (0600, in a 0700 folder), as the GitHub and cloud CLIs keep theirs. The folder is
 * LATCH_CONFIG_DIR, else $XDG_CONFIG_HOME/latch, else ~/.config/latch. Only the person's own
 * machine account can read it; the token lasts a working day and `latch logout` ends it at once.
 */

const storedLogin = z.object({
  url: z.string(),
  token: z.string().regex(/^latch_\S+$/),
  user: z.string(),
  expiresAt: z.iso.datetime(),
});

export type StoredLogin = z.infer<typeof storedLogin>;

export function storedLoginPath(source: NodeJS.ProcessEnv = process.env): string {
  const folder = source.LATCH_CONFIG_DIR?.trim() || join(source.XDG_CONFIG_HOME?.trim() || join(homedir(), '.config'), 'latch');
  return join(folder, 'login.json');
}

/** The stored login, or null when there is none (or the file is not one of Latch's). */
export function readStoredLogin(source: NodeJS.ProcessEnv = process.env): StoredLogin | null {
  let text: string;
  try {
    text = readFileSync(storedLoginPath(source), 'utf8');
  } catch {
    return null;
  }
  try {
    const parsed = storedLogin.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** Writes the login through a temporary file renamed into place, so a reader never sees half of it. */
export function writeStoredLogin(login: StoredLogin, source: NodeJS.ProcessEnv = process.env): string {
  const path = storedLoginPath(source);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(login, null, 2)}\n`, { mode: 0o600 });
  // The mode given to writeFileSync is masked by the umask; the token must be the owner's alone.
  chmodSync(temporary, 0o600);
  renameSync(temporary, path);
  return path;
}

export function removeStoredLogin(source: NodeJS.ProcessEnv = process.env): void {
  rmSync(storedLoginPath(source), { force: true });
}
