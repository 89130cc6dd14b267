import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { MigrationList } from '@prisma/schema-engine-wasm';
import { SCHEMA_PATH } from './schema-drift.ts';
import { NO_SCHEMA_FILTER, openSchemaEngine } from './schema-engine.ts';

/**
 * Migrates a database with Prisma's own schema engine, as `prisma migrate deploy` does: the
 * reference the tests hold Latch's runner to (the same `_prisma_migrations` rows, the same
 * refusals). Resolves with the names it applied; rejects with the engine's own error.
 */
export async function migrateWithPrismaEngine(options: { databaseUrl: string; migrationsFolder: string }): Promise<string[]> {
  const { engine, close } = await openSchemaEngine({
    databaseUrl: options.databaseUrl,
    schemaPath: SCHEMA_PATH,
    schema: await readFile(SCHEMA_PATH, 'utf8'),
  });
  try {
    const migrationsList = await engineMigrationsList(options.migrationsFolder);
    const { appliedMigrationNames } = await engine.applyMigrations({ migrationsList, filters: NO_SCHEMA_FILTER });
    return appliedMigrationNames;
  } finally {
    close();
  }
}

/** The migrations folder in the shape the engine reads it: `<name>/migration.sql` beside `migration_lock.toml`. */
async function engineMigrationsList(folder: string): Promise<MigrationList> {
  const baseDir = resolve(folder);
  const entries = await readdir(baseDir, { withFileTypes: true });
  const names = entries
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
  const migrationDirectories = await Promise.all(
    names.map(async (name) => ({
      path: name,
      migrationFile: {
        path: 'migration.sql',
        content: await readFile(join(baseDir, name, 'migration.sql'), 'utf8').then(
          (value) => ({ tag: 'ok' as const, value }),
          (error: Error) => ({ tag: 'error' as const, value: error.message }),
        ),
      },
    })),
  );
  const lockfile = await readFile(join(baseDir, 'migration_lock.toml'), 'utf8').catch(() => null);
  return {
    baseDir,
    lockfile: { path: 'migration_lock.toml', content: lockfile },
    shadowDbInitScript: '',
    migrationDirectories,
  };
}
