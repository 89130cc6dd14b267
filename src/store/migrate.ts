import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { Logger } from '../logging/logger.ts';
import { scriptMatchesChecksum } from './migration-checksum.ts';
import { MigrationError } from './migration-error.ts';
import {
  createHistoryTable,
  historyTableExists,
  listMigrationHistory,
  recordMigrationFailed,
  recordMigrationFinished,
  recordMigrationStarted,
  schemaIsEmpty,
  type MigrationRecord,
} from './migration-history.ts';
import { readMigrationsFolder, type MigrationFile } from './migrations-folder.ts';

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../prisma/migrations', import.meta.url));

/**
 * Key of the PostgreSQL advisory lock that serialises `latch migrate` runs, so processes that
 * start at once apply each migration once.
 */
export const MIGRATION_LOCK_KEY = 4_917_320_117n;

/**
 * The advisory lock Prisma's schema engine takes while `prisma migrate deploy` runs. Taken too, so
 * `latch migrate` and a `prisma migrate deploy` started at the same moment never interleave.
 */
export const PRISMA_MIGRATE_LOCK_KEY = 72_707_369n;

export interface MigrateOptions {
  databaseUrl: string;
  logger: Logger;
  migrationsFolder?: string;
}

export interface MigrateResult {
  /** Migrations applied by this run, in order; empty when the database was already current. */
  applied: string[];
}

/** SQLSTATE 25001: a statement PostgreSQL refuses inside a transaction block. */
const ACTIVE_SQL_TRANSACTION = '25001';

/**
 * Applies every migration the database has not had yet, as `prisma migrate deploy` would, without
 * Prisma's engine: each migration runs in one transaction together with its `_prisma_migrations`
 * row, so it is applied whole and recorded, or not at all. Processes that start at once queue on an
 * advisory lock, held by the one session that migrates (a session lock is unsafe through a pool),
 * and the later ones find nothing left to do.
 */
export async function migrateDatabase(options: MigrateOptions): Promise<MigrateResult> {
  const { databaseUrl, logger } = options;
  const client = new pg.Client({
    connectionString: databaseUrl,
    application_name: 'latch migrate',
    connectionTimeoutMillis: 10_000,
  });
  await client.connect();
  try {
    const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [MIGRATION_LOCK_KEY.toString()]);
    if (!rows[0]?.locked) {
      logger.info('another process is migrating this database; waiting for it to finish');
      await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY.toString()]);
    }
    await client.query('SELECT pg_advisory_lock($1)', [PRISMA_MIGRATE_LOCK_KEY.toString()]);
    return await applyPendingMigrations(client, options);
  } finally {
    // Ending the session releases both locks, even if an unlock would have failed.
    await client.end().catch(() => {});
  }
}

async function applyPendingMigrations(client: pg.Client, options: MigrateOptions): Promise<MigrateResult> {
  const { logger } = options;
  const migrations = await readMigrationsFolder(options.migrationsFolder ?? MIGRATIONS_FOLDER);
  if (!(await historyTableExists(client))) {
    if (!(await schemaIsEmpty(client))) {
      throw new MigrationError(
        'the database schema is not empty but has no migration history (_prisma_migrations): Latch will not migrate over ' +
          'tables it did not create. Use an empty database, or baseline this one: https://pris.ly/d/migrate-baseline',
      );
    }
    await createHistoryTable(client);
  }
  const history = await listMigrationHistory(client);
  refuseFailedMigrations(history);
  warnAboutEditedMigrations(migrations, history, logger);

  // As `prisma migrate deploy`: a migration is pending while no row of it stands (a row marked
  // rolled back by `prisma migrate resolve --rolled-back` does not count).
  const standing = new Set(history.filter((row) => row.rolledBackAt === null).map((row) => row.migrationName));
  const applied: string[] = [];
  for (const migration of migrations.filter((m) => !standing.has(m.name))) {
    logger.info({ migration: migration.name }, 'applying migration');
    await applyMigration(client, migration);
    applied.push(migration.name);
  }
  return { applied };
}

/**
 * One migration and its history row in one transaction. A failure rolls both back, then is
 * recorded on its own as Prisma records one, so every later run refuses until someone resolves it.
 */
async function applyMigration(client: pg.Client, migration: MigrationFile): Promise<void> {
  let started: { id: string; startedAt: Date } | undefined;
  try {
    await client.query('BEGIN');
    started = await recordMigrationStarted(client, migration);
    const transactionBefore = await currentTransactionId(client);
    await client.query(migration.script);
    if ((await currentTransactionId(client)) !== transactionBefore) {
      throw new MigrationError(
        'it ends the transaction it runs in (COMMIT, ROLLBACK or BEGIN in the script): Latch applies each migration whole, ' +
          'in one transaction of its own, so a migration must not control transactions; whatever it committed before that point stays',
      );
    }
    await recordMigrationFinished(client, started.id);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    const logs = describeFailure(error);
    // The same id as the started row: should the script have committed that row, this completes it.
    const recorded = await recordMigrationFailed(client, { id: started?.id, name: migration.name, checksum: migration.checksum, startedAt: started?.startedAt, logs }).then(
      () => resolveAdvice(migration.name),
      (recordError: Error) => `It could not be recorded as failed either (${recordError.message}): fix it and run \`latch migrate\` again.`,
    );
    throw new MigrationError(`migration ${migration.name} failed:\n${logs}\n${recorded}`);
  }
}

async function currentTransactionId(client: pg.Client): Promise<string> {
  const { rows } = await client.query<{ id: string }>('SELECT txid_current()::text AS id');
  return rows[0]!.id;
}

/** The failure as the `logs` column keeps it, in the shape of Prisma's own (its error P3018). */
function describeFailure(error: unknown): string {
  if (error instanceof MigrationError) return error.message;
  if (!(error instanceof pg.DatabaseError)) return error instanceof Error ? error.message : String(error);
  const lines = [`Database error code: ${error.code ?? 'unknown'}`, '', 'Database error:', `ERROR: ${error.message}`];
  if (error.detail) lines.push(`DETAIL: ${error.detail}`);
  if (error.hint) lines.push(`HINT: ${error.hint}`);
  if (error.where) lines.push(`CONTEXT: ${error.where}`);
  if (error.code === ACTIVE_SQL_TRANSACTION) {
    lines.push(
      '',
      'PostgreSQL runs this statement only outside a transaction, and Latch applies each migration whole, in one ' +
        'transaction. Write the migration without it (CREATE INDEX without CONCURRENTLY runs in a transaction), or run ' +
        'that statement by hand, outside `latch migrate`.',
    );
  }
  return lines.join('\n');
}

/** As `prisma migrate deploy` does (its error P3009): no migration runs after one that failed. */
function refuseFailedMigrations(history: MigrationRecord[]): void {
  const failed = history.filter((row) => row.finishedAt === null && row.rolledBackAt === null);
  if (failed.length === 0) return;
  const details = failed.map((row) => {
    const logs = row.logs?.trim() ? ` with the following logs:\n${row.logs.trim()}` : '';
    return `The \`${row.migrationName}\` migration started at ${formatTime(row.startedAt)} failed${logs}`;
  });
  throw new MigrationError(
    `the database has a failed migration, so no new migration is applied (as with \`prisma migrate deploy\`):\n` +
      `${details.join('\n')}\n${failed.map((row) => resolveAdvice(row.migrationName)).join('\n')}`,
  );
}

function resolveAdvice(name: string): string {
  const quoted = name.replaceAll("'", "''");
  return [
    `To resolve ${name}: check that its failed run left nothing behind (Latch rolls a failed migration back whole, unless`,
    'it committed on its own), fix the migration, mark that run rolled back, then run `latch migrate` again. To mark it:',
    `  prisma migrate resolve --rolled-back ${name}`,
    'or, without the Prisma CLI:',
    `  UPDATE _prisma_migrations SET rolled_back_at = now() WHERE migration_name = '${quoted}' AND finished_at IS NULL AND rolled_back_at IS NULL;`,
    'See https://pris.ly/d/migrate-resolve',
  ].join('\n');
}

/**
 * `prisma migrate deploy` leaves an applied migration alone even when its file changed since; so
 * does Latch, but says so: the change will never run, and belongs in a new migration.
 */
function warnAboutEditedMigrations(migrations: MigrationFile[], history: MigrationRecord[], logger: Logger): void {
  for (const migration of migrations) {
    const applied = history.find((row) => row.migrationName === migration.name && row.finishedAt !== null && row.rolledBackAt === null);
    if (applied && !scriptMatchesChecksum(migration.script, applied.checksum)) {
      logger.warn(
        { migration: migration.name },
        `migration ${migration.name} was changed after it was applied; the change is not applied (as with \`prisma migrate deploy\`): put it in a new migration`,
      );
    }
  }
}

/** As Prisma prints it: `2026-12-03 18:59:44.423 UTC`. */
function formatTime(time: Date): string {
  return `${time.toISOString().replace('T', ' ').replace('Z', '')} UTC`;
}
