import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './free-port.ts';

const run = promisify(execFile);

/**
 * A PostgreSQL server of one test's own, on a free loopback port, that checks passwords
 * (`scram-sha-256` for TCP, as a production server does). The shared test server trusts every
 * loopback connection, so there a wrong password, or a login past its VALID UNTIL, still gets
 * in: tests of credentials need this one. Started with initdb and pg_ctl (as the postgres user
 * when the tests run as root, since PostgreSQL refuses to run as root), stopped and deleted after.
 */
export class PrivatePostgres {
  private constructor(
    /** A superuser's URL (user `latch`, with its password) to the `postgres` database. */
    readonly adminUrl: string,
    private readonly bin: string,
    private readonly dir: string,
  ) {}

  static async start(): Promise<PrivatePostgres> {
    const bin = serverBinaries();
    const dir = mkdtempSync(join(tmpdir(), 'latch-private-pg-'));
    const password = randomBytes(18).toString('base64url');
    writeFileSync(join(dir, 'pw'), password);
    if (process.getuid?.() === 0) {
      const { stdout } = await run('id', ['-u', 'postgres']);
      const uid = Number(stdout.trim());
      chownSync(dir, uid, -1);
      chownSync(join(dir, 'pw'), uid, -1);
    }
    chmodSync(dir, 0o700);
    const port = await freePort();
    await asPostgres(join(bin, 'initdb'), ['-D', join(dir, 'data'), '-U', 'latch', `--pwfile=${join(dir, 'pw')}`, '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--locale=C.UTF-8', '-N']);
    const server = new PrivatePostgres(`postgresql://latch:${password}@127.0.0.1:${port}/postgres`, bin, dir);
    await asPostgres(join(bin, 'pg_ctl'), [
      '-D', join(dir, 'data'), '-l', join(dir, 'log'), '-w', '-t', '60', 'start',
      '-o', `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${dir} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c log_statement=all`,
    ]);
    return server;
  }

  /** Where clients reach `database` on this server. */
  endpoint(database = 'postgres'): { host: string; port: number; database: string } {
    const url = new URL(this.adminUrl);
    return { host: url.hostname, port: Number(url.port), database };
  }

  /** The URL of `database` on this server as `user` with `password`. */
  urlFor(user: string, password: string, database = 'postgres'): string {
    const url = new URL(this.adminUrl);
    url.username = encodeURIComponent(user);
    url.password = encodeURIComponent(password);
    url.pathname = `/${database}`;
    return url.toString();
  }

  /** What the server logged so far: every statement (log_statement = all), as an operator's server might. */
  serverLog(): string {
    return readFileSync(join(this.dir, 'log'), 'utf8');
  }

  async stop(): Promise<void> {
    await asPostgres(join(this.bin, 'pg_ctl'), ['-D', join(this.dir, 'data'), '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function serverBinaries(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((name) => existsSync(join(root, name, 'bin', 'initdb'))) : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (!newest) throw new Error('no PostgreSQL server binaries under /usr/lib/postgresql: run scripts/services.sh install');
  return join(root, newest, 'bin');
}

async function asPostgres(command: string, args: string[]): Promise<void> {
  if (process.getuid?.() === 0) await run('runuser', ['-u', 'postgres', '--', command, ...args]);
  else await run(command, args);
}
