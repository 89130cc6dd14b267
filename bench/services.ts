import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';

const SERVICES_SCRIPT = fileURLToPath(new URL('../scripts/services.sh', import.meta.url));

export interface BenchServices {
  /** Superuser connection to the server's `postgres` database. */
  adminDatabaseUrl: string;
  redisUrl: string;
  /** True when this run started PostgreSQL and Redis itself (and will stop them). */
  started: boolean;
  stop(): Promise<void>;
}

/**
 * PostgreSQL and Redis for the benchmark, found the way the tests find them: BENCH_DATABASE_URL
 * and BENCH_REDIS_URL when set; otherwise the ports of scripts/services.sh (LATCH_PG_PORT,
 * LATCH_REDIS_PORT), started in a temporary folder when nothing answers there and stopped again
 * at the end. Services that were already running are left running.
 */
export async function ensureServices(say: (line: string) => void): Promise<BenchServices> {
  // One without the other used to be ignored without a word, and the bench ran against the
  // services' PostgreSQL instead of the one asked for (issue 19's round-trip runs): refuse it.
  if (Boolean(process.env.BENCH_DATABASE_URL) !== Boolean(process.env.BENCH_REDIS_URL)) {
    throw new Error('set BENCH_DATABASE_URL and BENCH_REDIS_URL together (e.g. BENCH_REDIS_URL=redis://127.0.0.1:63799 for the services\' Redis), or neither');
  }
  const fromEnv = process.env.BENCH_DATABASE_URL && process.env.BENCH_REDIS_URL;
  const urls = fromEnv
    ? { DATABASE_URL: process.env.BENCH_DATABASE_URL!, REDIS_URL: process.env.BENCH_REDIS_URL! }
    : Object.fromEntries(
        execFileSync('bash', [SERVICES_SCRIPT, 'urls'], { encoding: 'utf8' })
          .trim()
          .split('\n')
          .map((line) => line.split('=', 2) as [string, string]),
      );
  const adminDatabaseUrl = urls.DATABASE_URL!;
  const redisUrl = urls.REDIS_URL!;
  if (await reachable(adminDatabaseUrl, redisUrl)) {
    say(`services: using the running PostgreSQL (${redacted(adminDatabaseUrl)}) and Redis (${redisUrl})`);
    return { adminDatabaseUrl, redisUrl, started: false, stop: async () => undefined };
  }
  if (fromEnv) throw new Error(`BENCH_DATABASE_URL or BENCH_REDIS_URL does not answer (${redacted(adminDatabaseUrl)}, ${redisUrl})`);

  const dir = mkdtempSync(join(process.env.TMPDIR ?? tmpdir(), 'latch-bench-services-'));
  say(`services: nothing answers on ${redacted(adminDatabaseUrl)} / ${redisUrl}; starting PostgreSQL and Redis in ${dir}`);
  const stop = async () => {
    try {
      execFileSync('bash', [SERVICES_SCRIPT, 'stop', dir], { stdio: ['ignore', 'ignore', 'inherit'] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  try {
    execFileSync('bash', [SERVICES_SCRIPT, 'install'], { stdio: ['ignore', 'ignore', 'inherit'] });
    execFileSync('bash', [SERVICES_SCRIPT, 'start', dir], { stdio: ['ignore', 'ignore', 'inherit'] });
  } catch (error) {
    await stop().catch(() => undefined);
    throw new Error(`could not start PostgreSQL and Redis with scripts/services.sh: ${(error as Error).message}`);
  }
  if (!(await reachable(adminDatabaseUrl, redisUrl))) {
    await stop().catch(() => undefined);
    throw new Error('scripts/services.sh started PostgreSQL and Redis, but they do not answer');
  }
  return { adminDatabaseUrl, redisUrl, started: true, stop };
}

async function reachable(databaseUrl: string, redisUrl: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 2_000 });
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await client.connect();
    await redis.connect();
    await redis.ping();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
    redis.disconnect();
  }
}

export interface BenchDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** An empty database of the benchmark's own, named at random so runs never collide. */
export async function createBenchDatabase(adminDatabaseUrl: string): Promise<BenchDatabase> {
  const name = `latch_bench_${randomBytes(6).toString('hex')}`;
  await adminQuery(adminDatabaseUrl, `CREATE DATABASE ${name}`);
  const url = new URL(adminDatabaseUrl);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    drop: () => adminQuery(adminDatabaseUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

async function adminQuery(adminUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

function redacted(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}
