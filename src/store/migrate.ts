import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { Logger } from '../logging/logger.ts';
import { readMigrationsFolder } from './migrations-folder.ts';
import { NO_SCHEMA_FILTER, openSchemaEngine } from './schema-engine.ts';

export const SCHEMA_PATH = fileURLToPath(new URL('../../prisma/schema.prisma', import.meta.url));
export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../prisma/migrations', import.meta.url));

/**
 * Key of the PostgreSQL advisory lock that serialises `latch migrate` runs. Prisma's engine also
 * locks (key 72707369) but gives up after a timeout, through a pooled connection: a second process
 * would fail while a long migration runs. This lock makes it queue before the engine starts
 * instead. A distinct key, so the two locks never wait on each other.
 */
export const MIGRATION_LOCK_KEY = 4_917_320_117n;

export interface MigrateOptions {
  databaseUrl: string;
  logger: Logger;
  migrationsFolder?: string;
  schemaPath?: string;
}

export interface MigrateResult {
  /** Migrations applied by this run, in order; empty when the database was already current. */
  applied: string[];
}

/**
 * Applies every migration the database has not had yet. Processes that start at once queue on an
 * advisory lock, held on a connection of its own (a session lock is unsafe through a pool), so the
 * schema is applied once and the others find nothing left to do.
 */
export async function migrateDatabase(options: MigrateOptions): Promise<MigrateResult> {
  const { databaseUrl, logger } = options;
  const lockConnection = new pg.Client({
    connectionString: databaseUrl,
    application_name: 'latch migrate',
    connectionTimeoutMillis: 10_000,
  });
  await lockConnection.connect();
  try {
    const { rows } = await lockConnection.query<{ locked: boolean }>(
      'SELECT pg_try_advisory_lock($1) AS locked',
      [MIGRATION_LOCK_KEY.toString()],
    );
    if (!rows[0]?.locked) {
      logger.info('another process is migrating this database; waiting for it to finish');
      await lockConnection.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY.toString()]);
    }
    return await applyPendingMigrations(options);
  } finally {
    // Ending the session releases the lock even if the unlock itself fails.
    await lockConnection.end().catch(() => {});
  }
}

async function applyPendingMigrations(options: MigrateOptions): Promise<MigrateResult> {
  const schemaPath = options.schemaPath ?? SCHEMA_PATH;
  const migrationsList = await readMigrationsFolder(options.migrationsFolder ?? MIGRATIONS_FOLDER);
  const { engine, close } = await openSchemaEngine({
    databaseUrl: options.databaseUrl,
    schemaPath,
    schema: await readFile(schemaPath, 'utf8'),
    onLog: (line) => options.logger.debug({ component: 'schema-engine' }, line),
  });
  try {
    const { appliedMigrationNames } = await engine.applyMigrations({ migrationsList, filters: NO_SCHEMA_FILTER });
    return { applied: appliedMigrationNames };
  } finally {
    close();
  }
}
