import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { freePort } from './free-port.ts';

/**
 * A MariaDB server of one test file's own, from Debian's `mariadb-server` package (installed by
 * `scripts/services.sh install`): a fresh data directory in a temporary folder, `mariadbd` on a free
 * loopback port with its socket beside the data, removed again by `stop`. The PostgreSQL and Redis
 * the other tests share are never touched. As root, the server runs as the `mysql` user, since
 * mariadbd refuses to run as root.
 */

const SERVER_CANDIDATES = ['/usr/sbin/mariadbd', '/usr/bin/mariadbd', '/usr/libexec/mariadbd'];
const INSTALL_DB_CANDIDATES = ['/usr/bin/mariadb-install-db', '/usr/sbin/mariadb-install-db'];
const START_TIMEOUT_MS = 120_000;

function installed(candidates: string[], what: string): string {
  const found = candidates.find((path) => existsSync(path));
  if (!found) throw new Error(`${what} not found (${candidates.join(', ')}): install mariadb-server (bash scripts/services.sh install)`);
  return found;
}

function run(command: string, args: string[], log: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${log} exited with ${code}: ${output.slice(-2000)}`))));
  });
}

export class PrivateMariadb {
  private constructor(
    readonly port: number,
    readonly socket: string,
    private readonly dir: string,
    private readonly server: ChildProcess,
    private readonly exited: Promise<void>,
  ) {}

  static async start(): Promise<PrivateMariadb> {
    const mariadbd = installed(SERVER_CANDIDATES, 'mariadbd');
    const installDb = installed(INSTALL_DB_CANDIDATES, 'mariadb-install-db');
    const dir = await mkdtemp(join(tmpdir(), 'latch-mariadb-'));
    const asRoot = userInfo().uid === 0;
    const userArgs = asRoot ? ['--user=mysql'] : [];
    if (asRoot) await chown(dir, ...(await mysqlIds()));
    const data = join(dir, 'data');
    // `normal`: root@localhost authenticates by (an empty) password over the socket, whoever runs the tests.
    // Small InnoDB files: the default 96 MiB redo log is written in full, slow on a busy disk.
    const serverOptions = ['--innodb-log-file-size=8M', '--innodb-buffer-pool-size=16M', '--innodb-flush-log-at-trx-commit=0'];
    // A temporary folder of its own: two servers initialising at once in /tmp collide on their
    // temporary tables' names (#sql-temptable-…) and one fails.
    const temporary = join(dir, 'tmp');
    await mkdir(temporary);
    if (asRoot) await chown(temporary, ...(await mysqlIds()));
    serverOptions.push(`--tmpdir=${temporary}`);
    try {
      await run(installDb, ['--no-defaults', `--datadir=${data}`, '--auth-root-authentication-method=normal', '--skip-test-db', ...userArgs, ...serverOptions], 'mariadb-install-db');
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
    const port = await freePort();
    const socket = join(dir, 'mariadb.sock');
    const server = spawn(
      mariadbd,
      [
        '--no-defaults',
        ...userArgs,
        `--datadir=${data}`,
        `--socket=${socket}`,
        `--port=${port}`,
        '--bind-address=127.0.0.1',
        `--pid-file=${join(dir, 'mariadb.pid')}`,
        `--log-error=${join(dir, 'error.log')}`,
        '--skip-name-resolve',
        '--skip-log-bin',
        ...serverOptions,
      ],
      { stdio: 'ignore' },
    );
    const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
    const mariadb = new PrivateMariadb(port, socket, dir, server, exited);
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      try {
        const admin = await mariadb.admin();
        await admin.end();
        return mariadb;
      } catch (error) {
        if (server.exitCode !== null || Date.now() > deadline) {
          const log = await readFile(join(dir, 'error.log'), 'utf8').catch(() => '');
          await mariadb.stop();
          throw new Error(`mariadbd on port ${port} did not answer (${(error as Error).message}); its log ends:\n${log.slice(-2000)}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  /** A connection as the server's root, over its socket. */
  admin(): Promise<mysql.Connection> {
    return mysql.createConnection({ socketPath: this.socket, user: 'root', password: '' });
  }

  /** A connection string for `user` over TCP on loopback, as Latch's settings name one. */
  url(user: string, password: string, database = ''): string {
    return `mysql://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${this.port}/${encodeURIComponent(database)}`;
  }

  async stop(): Promise<void> {
    if (this.server.exitCode === null && this.server.signalCode === null) {
      this.server.kill('SIGTERM');
      const killed = setTimeout(() => this.server.kill('SIGKILL'), 15_000);
      await this.exited;
      clearTimeout(killed);
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}

async function mysqlIds(): Promise<[number, number]> {
  const passwd = await readFile('/etc/passwd', 'utf8');
  const line = passwd.split('\n').find((entry) => entry.startsWith('mysql:'));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (uid === undefined || gid === undefined) throw new Error('there is no mysql user: install mariadb-server (bash scripts/services.sh install)');
  return [Number(uid), Number(gid)];
}
