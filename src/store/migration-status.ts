import { readdir } from 'node:fs/promises';
import type { Database } from './database.ts';
import { MIGRATIONS_FOLDER } from './migrate.ts';

/**
 * Migrations in the folder that the database has not finished applying. The service refuses to
 * start on a database that is behind its code, rather than fail on the first query that needs a
 * new column.
 */
export async function findPendingMigrations(db: Database, folder = MIGRATIONS_FOLDER): Promise<string[]> {
  const expected = await migrationsIn(folder);
  const [table] = await db.$queryRaw<{ exists: boolean }[]>`SELECT to_regclass('_prisma_migrations') IS NOT NULL AS exists`;
  if (!table?.exists) return expected;
  const applied = await db.$queryRaw<{ migration_name: string }[]>`
    SELECT migration_name FROM _prisma_migrations
    WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`;
  const done = new Set(applied.map((row) => row.migration_name));
  return expected.filter((name) => !done.has(name));
}

// The folder ships with the code and cannot change while the process runs, and the readiness
// probe asks every few seconds: list it once.
const listed = new Map<string, Promise<string[]>>();

function migrationsIn(folder: string): Promise<string[]> {
  let names = listed.get(folder);
  if (!names) {
    names = readdir(folder, { withFileTypes: true }).then((entries) =>
      entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name).sort(),
    );
    // A failed read is not remembered: the next call tries again.
    names.catch(() => listed.delete(folder));
    listed.set(folder, names);
  }
  return names;
}
