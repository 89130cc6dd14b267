import { readdir } from 'node:fs/promises';
import type { Database } from './database.ts';
import { MIGRATIONS_FOLDER } from './migrate.ts';

/**
 * Migrations in the folder that the database has not finished applying. The service refuses to
 * start on a database that is behind its code, rather than fail on the first query that needs a
 * new column.
 */
export async function findPendingMigrations(db: Pick<Database, 'pool'>, folder = MIGRATIONS_FOLDER): Promise<string[]> {
  const expected = await migrationsIn(folder);
  // Plain SQL on the pool: the start-up check and the readiness probe must not be what makes a
  // `latch web` build its Prisma client (src/store/database.ts).
  const { rows: [table] } = await db.pool.query<{ exists: boolean }>(`SELECT to_regclass('_prisma_migrations') IS NOT NULL AS exists`);
  if (!table?.exists) return expected;
  const { rows: applied } = await db.pool.query<{ migration_name: string }>(
    'SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL',
  );
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
