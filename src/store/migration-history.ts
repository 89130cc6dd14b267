import { randomUUID } from 'node:crypto';
import type pg from 'pg';

/**
 * `_prisma_migrations`, the migration history Prisma's schema engine keeps, read and written
 * exactly as the engine does, so `prisma migrate deploy`, `migrate status` and `migrate resolve`
 * work on a database Latch migrated, and Latch on one Prisma migrated.
 */

/** One row of the history. A row with `finishedAt` null and `rolledBackAt` null is a failed migration. */
export interface MigrationRecord {
  id: string;
  migrationName: string;
  checksum: string;
  startedAt: Date;
  finishedAt: Date | null;
  rolledBackAt: Date | null;
  logs: string | null;
  appliedStepsCount: number;
}

/** The table as Prisma's engine creates it on PostgreSQL: same columns, types, defaults and key. */
const CREATE_HISTORY_TABLE = `CREATE TABLE IF NOT EXISTS _prisma_migrations (
    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
    checksum                VARCHAR(64) NOT NULL,
    finished_at             TIMESTAMPTZ,
    migration_name          VARCHAR(255) NOT NULL,
    logs                    TEXT,
    rolled_back_at          TIMESTAMPTZ,
    started_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    applied_steps_count     INTEGER NOT NULL DEFAULT 0
)`;

export async function historyTableExists(client: pg.ClientBase): Promise<boolean> {
  const { rows } = await client.query<{ exists: boolean }>("SELECT to_regclass('_prisma_migrations') IS NOT NULL AS exists");
  return rows[0]?.exists ?? false;
}

export async function createHistoryTable(client: pg.ClientBase): Promise<void> {
  await client.query(CREATE_HISTORY_TABLE);
}

/**
 * Whether the schema holds anything at all (tables, views, sequences, types). Prisma's engine will
 * not start a history in a schema that is not empty (its error P3005): the tables there were not
 * made by these migrations, and the first one would collide with them or silently build beside them.
 */
export async function schemaIsEmpty(client: pg.ClientBase): Promise<boolean> {
  const { rows } = await client.query<{ empty: boolean }>(`
    WITH schema AS (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
    SELECT NOT EXISTS (SELECT 1 FROM pg_class WHERE relnamespace IN (SELECT oid FROM schema))
       AND NOT EXISTS (SELECT 1 FROM pg_type WHERE typnamespace IN (SELECT oid FROM schema) AND typtype IN ('e', 'd', 'r')) AS empty`);
  return rows[0]?.empty ?? true;
}

/** A row of `_prisma_migrations` as PostgreSQL returns it, column for column. */
export interface MigrationHistoryRow {
  id: string;
  migration_name: string;
  checksum: string;
  started_at: Date;
  finished_at: Date | null;
  rolled_back_at: Date | null;
  logs: string | null;
  applied_steps_count: number;
}

/** Every row, in the order the migrations started (Prisma's own order). */
export async function listMigrationHistory(client: pg.ClientBase): Promise<MigrationRecord[]> {
  const { rows } = await client.query<MigrationHistoryRow>('SELECT id, migration_name, checksum, started_at, finished_at, rolled_back_at, logs, applied_steps_count FROM _prisma_migrations ORDER BY started_at');
  return rows.map((row) => ({
    id: row.id,
    migrationName: row.migration_name,
    checksum: row.checksum,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    rolledBackAt: row.rolled_back_at,
    logs: row.logs,
    appliedStepsCount: row.applied_steps_count,
  }));
}

/**
 * Starts a migration's row, inside the transaction that applies it: it commits with the schema
 * change or not at all. Returns when it started, for the failure record should the script fail.
 */
export async function recordMigrationStarted(client: pg.ClientBase, migration: { name: string; checksum: string }): Promise<{ id: string; startedAt: Date }> {
  const id = randomUUID();
  const { rows } = await client.query<{ started_at: Date }>(
    'INSERT INTO _prisma_migrations (id, checksum, started_at, migration_name, applied_steps_count) VALUES ($1, $2, clock_timestamp(), $3, 0) RETURNING started_at',
    [id, migration.checksum, migration.name],
  );
  return { id, startedAt: rows[0]!.started_at };
}

/** Prisma counts one step for a whole script, and sets `finished_at` once it succeeded. */
export async function recordMigrationFinished(client: pg.ClientBase, id: string): Promise<void> {
  await client.query('UPDATE _prisma_migrations SET applied_steps_count = applied_steps_count + 1, finished_at = clock_timestamp() WHERE id = $1', [id]);
}

/**
 * Records a migration that failed as Prisma's engine records one: started, no step applied, never
 * finished, with the error in `logs`. Written after the failed transaction rolled back, so it stays;
 * `prisma migrate deploy` and `latch migrate` then refuse to go on until someone resolves it.
 */
export async function recordMigrationFailed(
  client: pg.ClientBase,
  migration: { id: string | undefined; name: string; checksum: string; startedAt: Date | undefined; logs: string },
): Promise<void> {
  await client.query(
    `INSERT INTO _prisma_migrations (id, checksum, started_at, migration_name, logs, applied_steps_count)
     VALUES ($1, $2, coalesce($3, now()), $4, $5, 0)
     ON CONFLICT (id) DO UPDATE SET logs = excluded.logs`,
    [migration.id ?? randomUUID(), migration.checksum, migration.startedAt ?? null, migration.name, migration.logs],
  );
}
