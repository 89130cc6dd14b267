import { cpSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createLogger } from '../../../src/logging/logger.ts';
import { createDatabase } from '../../../src/store/database.ts';
import { MIGRATION_LOCK_KEY, MIGRATIONS_FOLDER, migrateDatabase } from '../../../src/store/migrate.ts';
import { findSchemaDrift } from '../../../tools/schema-engine/schema-drift.ts';
import { LatchProcess, runLatch, runSchemaCheck } from '../../helpers/latch-process.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/test-database.ts';

const logger = createLogger({ level: 'silent' });
/** Every migration in the folder, in the order they apply. */
const MIGRATIONS = readdirSync(MIGRATIONS_FOLDER, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)
  .sort();
const databases: TestDatabase[] = [];

async function emptyDatabase() {
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

const migrationHistory = (url: string) =>
  query<{ migration_name: string; checksum: string; finished_at: Date; applied_steps_count: number }>(
    url,
    'SELECT migration_name, checksum, finished_at, applied_steps_count FROM _prisma_migrations ORDER BY migration_name',
  );

afterAll(async () => {
  await Promise.all(databases.map((db) => db.drop()));
});

describe('latch migrate', () => {
  it('creates the whole schema on an empty database, and it matches schema.prisma exactly', async () => {
    const db = await emptyDatabase();
    const { applied } = await migrateDatabase({ databaseUrl: db.url, logger });
    expect(applied).toEqual(MIGRATIONS);
    const tables = await query<{ tablename: string }>(db.url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1");
    expect(tables.map((t) => t.tablename)).toEqual(['_prisma_migrations', 'access_requests', 'approvals', 'audit_events', 'audit_evidence_start', 'decision_evidence', 'grants', 'standing_access_findings']);
    expect(await findSchemaDrift({ databaseUrl: db.url, logger })).toBe('');
  });

  it('changes nothing when run a second time', async () => {
    const db = await emptyDatabase();
    await migrateDatabase({ databaseUrl: db.url, logger });
    const before = await migrationHistory(db.url);
    const second = await runLatch(['migrate'], { DATABASE_URL: db.url });
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('the database is up to date; no migration applied');
    expect(await migrationHistory(db.url)).toEqual(before);
  });

  it('applies the schema once when two processes migrate at the same moment', async () => {
    const db = await emptyDatabase();
    const [first, second] = await Promise.all([
      runLatch(['migrate'], { DATABASE_URL: db.url, LOG_LEVEL: 'info' }),
      runLatch(['migrate'], { DATABASE_URL: db.url, LOG_LEVEL: 'info' }),
    ]);
    expect([first.code, second.code]).toEqual([0, 0]);
    const outputs = [first.stdout, second.stdout];
    expect(outputs.filter((out) => out.includes(`applied ${MIGRATIONS.length} migration(s)`))).toHaveLength(1);
    expect(outputs.filter((out) => out.includes('no migration applied'))).toHaveLength(1);
    const history = await migrationHistory(db.url);
    expect(history.map((row) => row.migration_name)).toEqual(MIGRATIONS);
    expect(history.every((row) => row.applied_steps_count === 1)).toBe(true);
    expect(await findSchemaDrift({ databaseUrl: db.url, logger })).toBe('');
  });

  it('waits while another process holds the migration lock, and migrates once it is released', async () => {
    const db = await emptyDatabase();
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    await holder.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY.toString()]);
    const waiting = new LatchProcess(['migrate'], { DATABASE_URL: db.url });
    await waiting.waitForLog((line) => line.msg === 'another process is migrating this database; waiting for it to finish');
    // While the lock is held, nothing is applied.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const tables = await query<{ n: number }>(db.url, "SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'");
    expect(tables[0]!.n).toBe(0);
    expect(waiting.stdout).not.toContain('applied');
    await holder.end();
    const result = await waiting.exited;
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`applied ${MIGRATIONS.length} migration(s)`);
    expect(await migrationHistory(db.url)).toHaveLength(MIGRATIONS.length);
  });

  it('applies a migration whole or not at all, and reports the failure', async () => {
    const db = await emptyDatabase();
    const folder = mkdtempSync(join(tmpdir(), 'latch-migrations-'));
    cpSync(MIGRATIONS_FOLDER, folder, { recursive: true });
    mkdirSync(join(folder, '29990101000000_broken'));
    writeFileSync(
      join(folder, '29990101000000_broken', 'migration.sql'),
      "CREATE TABLE half_done (id int);\nCREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END; $$;\nSELECT * FROM no_such_table;\n",
    );
    await expect(migrateDatabase({ databaseUrl: db.url, logger, migrationsFolder: folder })).rejects.toThrow(/no_such_table/);
    const tables = await query<{ n: number }>(db.url, "SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'half_done'");
    expect(tables[0]!.n).toBe(0);
    // The migrations before it stand, and the audit table's triggers (a dollar-quoted function) work.
    expect(await findSchemaDrift({ databaseUrl: db.url, logger })).toBe('');
  });

  it('notices a database that drifted from schema.prisma, and `npm run check:schema` fails on it', async () => {
    const db = await emptyDatabase();
    await migrateDatabase({ databaseUrl: db.url, logger });
    const matching = await runSchemaCheck({ DATABASE_URL: db.url, LOG_LEVEL: 'info' });
    expect(matching.code).toBe(0);
    expect(matching.stdout).toContain('the database matches prisma/schema.prisma');
    await query(db.url, 'DROP INDEX grants_revoked_at_expires_at_idx');
    const drift = await findSchemaDrift({ databaseUrl: db.url, logger });
    expect(drift).toContain('CREATE INDEX "grants_revoked_at_expires_at_idx"');
    const check = await runSchemaCheck({ DATABASE_URL: db.url });
    expect(check.code).toBe(1);
    expect(check.stderr).toContain('check:schema: the database differs from prisma/schema.prisma');
    expect(check.stderr).toContain('CREATE INDEX "grants_revoked_at_expires_at_idx"');
  });

  it('reports an unreachable database in one line, without the password', async () => {
    const result = await runLatch(['migrate'], { DATABASE_URL: 'postgresql://latch:topsecretpw@127.0.0.1:1/latch' });
    expect(result.code).not.toBe(0);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/^latch: /);
    expect(result.stderr + result.stdout).not.toContain('topsecretpw');
  });
});

describe('the migrated schema through the Prisma client', () => {
  let db: TestDatabase;
  let prisma: ReturnType<typeof createDatabase>;

  beforeAll(async () => {
    db = await createTestDatabase();
    databases.push(db);
    prisma = createDatabase({ databaseUrl: db.url });
  });
  afterEach(async () => {
    await prisma.approval.deleteMany();
    await prisma.accessRequest.deleteMany();
  });
  afterAll(() => prisma.$disconnect());

  const request = {
    requesterSlackId: 'U1',
    resourceId: 'prod-db',
    role: 'read',
    durationSeconds: 7200,
    reason: 'incident 42',
  };

  it('stores a request as pending, with a time-ordered UUID and UTC timestamps', async () => {
    const first = await prisma.accessRequest.create({ data: request });
    const second = await prisma.accessRequest.create({ data: request });
    expect(first.state).toBe('pending');
    expect(first.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-/);
    expect(second.id > first.id).toBe(true);
    expect(first.createdAt).toBeInstanceOf(Date);
  });

  it('keeps one decision per approver and request revision', async () => {
    const { id } = await prisma.accessRequest.create({ data: request });
    const vote = { requestId: id, requestRevision: 1, approverSlackId: 'U2', decision: 'approve' as const };
    await prisma.approval.create({ data: vote });
    await expect(prisma.approval.create({ data: vote })).rejects.toMatchObject({ code: 'P2002' });
    // After an edit bumps the revision, the same approver votes again.
    await expect(prisma.approval.create({ data: { ...vote, requestRevision: 2 } })).resolves.toMatchObject({ requestRevision: 2 });
  });
});
