import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createLogger } from '../../../src/logging/logger.ts';
import { createDatabase } from '../../../src/store/database.ts';
import { MIGRATIONS_FOLDER, migrateDatabase } from '../../../src/store/migrate.ts';
import type { MigrationHistoryRow } from '../../../src/store/migration-history.ts';
import { findPendingMigrations } from '../../../src/store/migration-status.ts';
import { migrateWithPrismaEngine } from '../../../tools/schema-engine/engine-migrate.ts';
import { findSchemaDrift } from '../../../tools/schema-engine/schema-drift.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/test-database.ts';

// Latch migrates without Prisma's engine, but keeps its history table as the engine does, so an
// operator can switch between `latch migrate` and `prisma migrate deploy` on the same database.
// Prisma's schema engine (its WASM build, a development dependency) is the reference here.

const logger = createLogger({ level: 'silent' });
const MIGRATIONS = readdirSync(MIGRATIONS_FOLDER, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)
  .sort();
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const databases: TestDatabase[] = [];

afterAll(async () => {
  await Promise.all(databases.map((db) => db.drop()));
});

async function emptyDatabase(): Promise<TestDatabase> {
  const db = await createTestDatabase({ migrated: false });
  databases.push(db);
  return db;
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

const history = (url: string) => query<MigrationHistoryRow>(url, 'SELECT * FROM _prisma_migrations ORDER BY migration_name, started_at');

/** What a history row says, without what differs from run to run (its random id and its times). */
function meaning(row: MigrationHistoryRow) {
  return {
    migration_name: row.migration_name,
    checksum: row.checksum,
    finished: row.finished_at !== null,
    rolled_back: row.rolled_back_at !== null,
    failed_with_logs: row.finished_at === null && Boolean(row.logs),
    logs_when_finished: row.finished_at === null ? 'n/a' : row.logs,
    applied_steps_count: row.applied_steps_count,
  };
}

/** The history table's definition: columns, types, defaults, nullability, keys and indexes. */
async function historyTableDefinition(url: string) {
  const columns = await query(
    url,
    `SELECT ordinal_position, column_name, data_type, character_maximum_length, is_nullable, column_default
       FROM information_schema.columns WHERE table_name = '_prisma_migrations' ORDER BY ordinal_position`,
  );
  const constraints = await query(url, "SELECT conname, pg_get_constraintdef(oid) AS definition FROM pg_constraint WHERE conrelid = '_prisma_migrations'::regclass ORDER BY conname");
  const indexes = await query(url, "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = '_prisma_migrations' ORDER BY indexname");
  return { columns, constraints, indexes };
}

function folderWith(extra: Record<string, string>): string {
  const folder = mkdtempSync(join(tmpdir(), 'latch-migrations-'));
  cpSync(MIGRATIONS_FOLDER, folder, { recursive: true });
  for (const [name, script] of Object.entries(extra)) {
    mkdirSync(join(folder, name));
    writeFileSync(join(folder, name, 'migration.sql'), script);
  }
  return folder;
}

describe("latch migrate and Prisma's schema engine on the same migrations folder", () => {
  it('write the same history table and the same rows', async () => {
    const [byLatch, byPrisma] = await Promise.all([emptyDatabase(), emptyDatabase()]);
    expect((await migrateDatabase({ databaseUrl: byLatch.url, logger })).applied).toEqual(MIGRATIONS);
    expect(await migrateWithPrismaEngine({ databaseUrl: byPrisma.url, migrationsFolder: MIGRATIONS_FOLDER })).toEqual(MIGRATIONS);

    expect(await historyTableDefinition(byLatch.url)).toEqual(await historyTableDefinition(byPrisma.url));
    const [latchRows, prismaRows] = [await history(byLatch.url), await history(byPrisma.url)];
    expect(latchRows.map(meaning)).toEqual(prismaRows.map(meaning));
    // The checksum is the SHA-256 of each file, and each row is a UUID with its start before its end.
    expect(latchRows.map((row) => row.checksum)).toEqual(
      MIGRATIONS.map((name) => createHash('sha256').update(readFileSync(join(MIGRATIONS_FOLDER, name, 'migration.sql'))).digest('hex')),
    );
    for (const row of [...latchRows, ...prismaRows]) {
      expect(row.id).toMatch(UUID_V4);
      expect(row.finished_at!.getTime()).toBeGreaterThanOrEqual(row.started_at.getTime());
    }
    // Both build the schema schema.prisma describes.
    expect(await findSchemaDrift({ databaseUrl: byLatch.url, logger })).toBe('');
    expect(await findSchemaDrift({ databaseUrl: byPrisma.url, logger })).toBe('');
  });

  it("each finds the other's database current, and applies only a migration added since", async () => {
    const [byLatch, byPrisma] = await Promise.all([emptyDatabase(), emptyDatabase()]);
    await migrateDatabase({ databaseUrl: byLatch.url, logger });
    await migrateWithPrismaEngine({ databaseUrl: byPrisma.url, migrationsFolder: MIGRATIONS_FOLDER });

    // What `prisma migrate deploy` does with a database Latch migrated: nothing.
    expect(await migrateWithPrismaEngine({ databaseUrl: byLatch.url, migrationsFolder: MIGRATIONS_FOLDER })).toEqual([]);
    // And Latch, its readiness check included, with one Prisma migrated.
    expect((await migrateDatabase({ databaseUrl: byPrisma.url, logger })).applied).toEqual([]);
    const prisma = createDatabase({ databaseUrl: byPrisma.url });
    try {
      expect(await findPendingMigrations(prisma)).toEqual([]);
    } finally {
      await prisma.$disconnect();
    }

    const folder = folderWith({ '29990101000000_later': 'CREATE TABLE added_later (id int);\n' });
    expect(await migrateWithPrismaEngine({ databaseUrl: byLatch.url, migrationsFolder: folder })).toEqual(['29990101000000_later']);
    expect((await migrateDatabase({ databaseUrl: byPrisma.url, logger, migrationsFolder: folder })).applied).toEqual(['29990101000000_later']);
    expect((await history(byLatch.url)).map(meaning)).toEqual((await history(byPrisma.url)).map(meaning));
  });

  it('each refuses to go on after a failed migration the other recorded', async () => {
    const broken = folderWith({
      '29990101000000_broken': 'CREATE TABLE half_done (id int);\nSELECT * FROM no_such_table;\n',
      '29990102000000_after': 'CREATE TABLE after_broken (id int);\n',
    });
    const [failedByLatch, failedByPrisma] = await Promise.all([emptyDatabase(), emptyDatabase()]);
    await expect(migrateDatabase({ databaseUrl: failedByLatch.url, logger, migrationsFolder: broken })).rejects.toThrow(/no_such_table/);
    await expect(migrateWithPrismaEngine({ databaseUrl: failedByPrisma.url, migrationsFolder: broken })).rejects.toThrow(/no_such_table/);
    // Both record it the same way (the logs' wording is each one's own).
    expect((await history(failedByLatch.url)).map(meaning)).toEqual((await history(failedByPrisma.url)).map(meaning));

    await expect(migrateWithPrismaEngine({ databaseUrl: failedByLatch.url, migrationsFolder: broken })).rejects.toThrow(
      /found failed migrations[\s\S]*The `29990101000000_broken` migration started at .* failed/,
    );
    await expect(migrateDatabase({ databaseUrl: failedByPrisma.url, logger, migrationsFolder: broken })).rejects.toThrow(
      /The `29990101000000_broken` migration started at .* failed/,
    );
    for (const db of [failedByLatch, failedByPrisma]) {
      expect((await query<{ n: number }>(db.url, "SELECT count(*)::int AS n FROM pg_tables WHERE tablename IN ('half_done', 'after_broken')"))[0]!.n).toBe(0);
    }
  });

  it('both refuse a schema that holds tables but no migration history', async () => {
    const [forLatch, forPrisma] = await Promise.all([emptyDatabase(), emptyDatabase()]);
    for (const db of [forLatch, forPrisma]) await query(db.url, 'CREATE TABLE someone_elses (id int)');
    await expect(migrateDatabase({ databaseUrl: forLatch.url, logger })).rejects.toThrow(/not empty[\s\S]*migrate-baseline/);
    await expect(migrateWithPrismaEngine({ databaseUrl: forPrisma.url, migrationsFolder: MIGRATIONS_FOLDER })).rejects.toThrow(/not empty[\s\S]*migrate-baseline/);
  });
});
