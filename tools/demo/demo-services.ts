import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';

const SERVICES_SCRIPT = fileURLToPath(new URL('../../scripts/services.sh', import.meta.url));

export interface DemoServicesOptions {
  pgPort: number;
  redisPort: number;
  /** Where scripts/services.sh keeps the data folder, logs and pid files. */
  dir: string;
  say(line: string): void;
}

export interface DemoServices {
  /** Superuser connection to the server's `postgres` database. */
  adminUrl: string;
  redisUrl: string;
  /** Stops what this run started, and only that: services found running are left running. */
  stop(): Promise<void>;
}

/**
 * PostgreSQL and Redis for the demo, on loopback on ports of their own: installed from Debian's
 * packages when missing and started through scripts/services.sh (as `npm start` and CI do).
 */
export async function startDemoServices({ pgPort, redisPort, dir, say }: DemoServicesOptions): Promise<DemoServices> {
  const adminUrl = `postgresql://latch@127.0.0.1:${pgPort}/postgres`;
  const redisUrl = `redis://127.0.0.1:${redisPort}`;
  const env = { ...process.env, LATCH_PG_PORT: String(pgPort), LATCH_REDIS_PORT: String(redisPort) };
  const [pgRunning, redisRunning] = await Promise.all([postgresAnswers(adminUrl), redisAnswers(redisUrl)]);
  if (!pgRunning || !redisRunning) {
    say('installing PostgreSQL and Redis if they are missing (Debian packages)…');
    await runScript(['install'], env);
    say(`starting ${[!pgRunning && `PostgreSQL on 127.0.0.1:${pgPort}`, !redisRunning && `Redis on 127.0.0.1:${redisPort}`].filter(Boolean).join(' and ')}…`);
    await runScript(['start', dir], env);
  } else {
    say(`using PostgreSQL on 127.0.0.1:${pgPort} and Redis on 127.0.0.1:${redisPort}, already running (they stay running afterwards)`);
  }
  // Pid files name the processes this run started, so stop() never touches anyone else's.
  const started = [
    !pgRunning && { name: 'PostgreSQL', pid: firstLineNumber(join(dir, 'pg', 'postmaster.pid')), signal: 'SIGINT' as const },
    !redisRunning && { name: 'Redis', pid: firstLineNumber(join(dir, 'redis.pid')), signal: 'SIGTERM' as const },
  ].filter((service) => service !== false);
  return {
    adminUrl,
    redisUrl,
    stop: async () => {
      for (const service of started) {
        // SIGINT is PostgreSQL's fast shutdown; Redis runs without persistence, so SIGTERM saves nothing.
        if (await stopProcess(service.pid, service.signal)) say(`${service.name} stopped`);
        else say(`${service.name} (pid ${service.pid}) did not stop within 30 s`);
      }
    },
  };
}

/**
 * Runs scripts/services.sh in a process group of its own: a Ctrl-C while apt-get or pg_ctl runs
 * reaches only the demo, which lets the step finish and then stops what it started, instead of
 * leaving a half-installed package or a server nobody will stop.
 */
function runScript(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [SERVICES_SCRIPT, ...args], { env, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    let stderr = '';
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`scripts/services.sh ${args[0]} failed (exit ${code}):\n${stderr.trim()}`));
    });
  });
}

async function postgresAnswers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function redisAnswers(url: string): Promise<boolean> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

function firstLineNumber(file: string): number {
  const pid = Number(readFileSync(file, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`${file} holds no process id`);
  return pid;
}

/** Running, and not a zombie waiting for a parent that does not reap (a container's PID 1 may not). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

async function stopProcess(pid: number, signal: NodeJS.Signals): Promise<boolean> {
  if (!alive(pid)) return true;
  process.kill(pid, signal);
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (!alive(pid)) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}
