import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { Redis } from 'ioredis';
import type { TestProject } from 'vitest/node';
import { createLogger } from '../src/logging/logger.ts';
import { migrateDatabase } from '../src/store/migrate.ts';
import { adminQuery, templateDatabaseName, withDatabaseName } from './helpers/test-database.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Superuser connection to the test PostgreSQL server (its `postgres` database). */
    adminDatabaseUrl: string;
    /** The test Redis server; tests use their own key prefixes or databases. */
    redisUrl: string;
    /** The migrated database each test database copies. */
    templateDatabase: string;
  }
}

const SERVICES_SCRIPT = fileURLToPath(new URL('../scripts/services.sh', import.meta.url));
const REPOSITORY = fileURLToPath(new URL('..', import.meta.url));

/**
 * The build (dist/) and real PostgreSQL and Redis for the whole run. Uses LATCH_TEST_DATABASE_URL and
 * LATCH_TEST_REDIS_URL when set; otherwise uses scripts/services.sh to install them if missing and
 * start them on ports of their own, and stops them afterwards (unless they were already running). Then migrates a template
 * database once, which each test copies in milliseconds.
 */
export default async function setup(project: TestProject) {
  // The process tests run bin/latch.js, which runs the compiled dist/: build it from these sources.
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: REPOSITORY, stdio: ['ignore', 'ignore', 'inherit'] });
  let adminDatabaseUrl = process.env.LATCH_TEST_DATABASE_URL;
  let redisUrl = process.env.LATCH_TEST_REDIS_URL;
  let stopServices = false;
  if (!adminDatabaseUrl || !redisUrl) {
    const urls = Object.fromEntries(
      execFileSync('bash', [SERVICES_SCRIPT, 'urls'], { encoding: 'utf8' })
        .trim()
        .split('\n')
        .map((line) => line.split('=', 2) as [string, string]),
    );
    adminDatabaseUrl = urls.DATABASE_URL!;
    redisUrl = urls.REDIS_URL!;
    if (!(await reachable(adminDatabaseUrl, redisUrl))) {
      execFileSync('bash', [SERVICES_SCRIPT, 'install'], { stdio: ['ignore', 'ignore', 'inherit'] });
      execFileSync('bash', [SERVICES_SCRIPT, 'start'], { stdio: ['ignore', 'ignore', 'inherit'] });
      stopServices = true;
    }
  }
  const templateDatabase = templateDatabaseName(`${process.pid}_${Date.now().toString(36)}`);
  await prepareTemplate(adminDatabaseUrl, templateDatabase);
  project.provide('adminDatabaseUrl', adminDatabaseUrl);
  project.provide('redisUrl', redisUrl);
  project.provide('templateDatabase', templateDatabase);
  return async () => {
    await adminQuery(adminDatabaseUrl, `DROP DATABASE IF EXISTS ${templateDatabase} WITH (FORCE)`).catch(() => {});
    if (stopServices) execFileSync('bash', [SERVICES_SCRIPT, 'stop'], { stdio: ['ignore', 'ignore', 'inherit'] });
  };
}

async function reachable(databaseUrl: string, redisUrl: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 2_000 });
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
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

async function prepareTemplate(adminDatabaseUrl: string, name: string): Promise<void> {
  await adminQuery(adminDatabaseUrl, `CREATE DATABASE ${name}`);
  await migrateDatabase({ databaseUrl: withDatabaseName(adminDatabaseUrl, name), logger: createLogger({ level: 'warn' }) });
}
