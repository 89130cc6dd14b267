import { createHash } from 'node:crypto';
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createLogger } from '../../../src/logging/logger.ts';
import { createDatabase } from '../../../src/store/database.ts';
import { MIGRATION_LOCK_KEY, MIGRATIONS_FOLDER, PRISMA_MIGRATE_LOCK_KEY, migrateDatabase } from '../../../src/store/migrate.ts';
import type { MigrationHistoryRow } from '../../../src/store/migration-history.ts';
import { findPendingMigrations } from '../../../src/store/migration-status.ts';
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

/** A copy of the real migrations folder, with `extra` migrations (name → script) after them. */
function folderWith(extra: Record<string, string>): string {
  const folder = mkdtempSync(join(tmpdir(), 'latch-migrations-'));
  cpSync(MIGRATIONS_FOLDER, folder, { recursive: true });
  for (const [name, script] of Object.entries(extra)) {
    mkdirSync(join(folder, name));
    writeFileSync(join(folder, name, 'migration.sql'), script);
  }
  return folder;
}

const rowsOf = (url: string, name: string) =>
  query<MigrationHistoryRow>(url, `SELECT * FROM _prisma_migrations WHERE migration_name = '${name}' ORDER BY started_at`);
const tableExists = async (url: string, name: string) =>
  (await query<{ exists: boolean }>(url, `SELECT to_regclass('${name}') IS NOT NULL AS exists`))[0]!.exists;
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const BROKEN = 'CREATE TABLE half_done (id int);\nSELECT * FROM no_such_table;\n';

afterAll(async () => {
  await Promise.all(databases.map((db) => db.drop()));
});

describe('latch migrate', () => {
  it('creates the whole schema on an empty database, and it matches schema.prisma exactly', async () => {
    const db = await emptyDatabase();
    const { applied } = await migrateDatabase({ databaseUrl: db.url, logger });
    expect(applied).toEqual(MIGRATIONS);
    const tables = await query<{ tablename: string }>(db.url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1");
    expect(tables.map((t) => t.tablename)).toEqual(['_prisma_migrations', 'access_requests', 'approvals', 'audit_events', 'audit_evidence_start', 'cli_logins', 'decision_evidence', 'grants', 'machine_tokens', 'standing_access_findings']);
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

describe('latch migrate when a migration fails', () => {
  it('rolls the migration back whole and records it as Prisma records a failure: started, no step applied, the error in logs', async () => {
    const db = await emptyDatabase();
    const folder = folderWith({ '29990101000000_broken': BROKEN });
    await expect(migrateDatabase({ databaseUrl: db.url, logger, migrationsFolder: folder })).rejects.toThrow(
      /migration 29990101000000_broken failed:\nDatabase error code: 42P01/,
    );
    expect(await tableExists(db.url, 'half_done')).toBe(false);
    const rows = await rowsOf(db.url, '29990101000000_broken');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ finished_at: null, rolled_back_at: null, applied_steps_count: 0, checksum: sha256(BROKEN) });
    expect(rows[0]!.id).toMatch(UUID_V4);
    expect(rows[0]!.logs).toContain('Database error code: 42P01');
    expect(rows[0]!.logs).toContain('relation "no_such_table" does not exist');
    // Everything before it stands.
    expect((await migrationHistory(db.url)).filter((row) => row.finished_at !== null).map((row) => row.migration_name)).toEqual(MIGRATIONS);
  });

  it('refuses every later run, naming the migration and how to resolve it; once resolved as it says, the fixed migration applies', async () => {
    const db = await emptyDatabase();
    const folder = folderWith({ '29990101000000_broken': BROKEN, '29990102000000_after': 'CREATE TABLE after_broken (id int);\n' });
    await expect(migrateDatabase({ databaseUrl: db.url, logger, migrationsFolder: folder })).rejects.toThrow(/no_such_table/);

    const refusal = await migrateDatabase({ databaseUrl: db.url, logger, migrationsFolder: folder }).then(
      () => expect.fail('a database with a failed migration was migrated further'),
      (error: Error) => error.message,
    );
    expect(refusal).toContain('the database has a failed migration, so no new migration is applied');
    expect(refusal).toMatch(/The `29990101000000_broken` migration started at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC failed with the following logs:/);
    expect(refusal).toContain('relation "no_such_table" does not exist');
    expect(refusal).toContain('prisma migrate resolve --rolled-back 29990101000000_broken');
    expect(await tableExists(db.url, 'after_broken')).toBe(false);

    // Resolve it as the message says, without the Prisma CLI, and fix the migration.
    const resolveStatement = /UPDATE _prisma_migrations SET rolled_back_at[^;]*;/.exec(refusal)?.[0];
    expect(resolveStatement).toContain("migration_name = '29990101000000_broken'");
    await query(db.url, resolveStatement!);
    writeFileSync(join(folder, '29990101000000_broken', 'migration.sql'), 'CREATE TABLE fixed (id int);\n');
    const { applied } = await migrateDatabase({ databaseUrl: db.url, logger, migrationsFolder: folder });
    expect(applied).toEqual(['29990101000000_broken', '29990102000000_after']);
    expect(await tableExists(db.url, 'fixed')).toBe(true);
    expect(await tableExists(db.url, 'after_broken')).toBe(true);
    const rows = await rowsOf(db.url, '29990101000000_broken');
    expect(rows.map((row) => [row.rolled_back_at !== null, row.finished_at !== null])).toEqual([
      [true, false],
      [false, true],
    ]);
  });

  it('`latch migrate` refuses a database with a failed migration, naming it, with exit code 1', async () => {
    const db = await createTestDatabase();
    databases.push(db);
    const latest = MIGRATIONS.at(-1)!;
    await query(db.url, `UPDATE _prisma_migrations SET finished_at = NULL, applied_steps_count = 0, logs = 'ERROR: disk full' WHERE migration_name = '${latest}'`);
    const result = await runLatch(['migrate'], { DATABASE_URL: db.url });
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines.every((line) => line.startsWith('latch: '))).toBe(true);
    expect(result.stderr).toContain(`The \`${latest}\` migration started at`);
    expect(result.stderr).toContain('ERROR: disk full');
    expect(result.stderr).toContain(`prisma migrate resolve --rolled-back ${latest}`);
    expect(result.stderr).not.toContain('unexpected error');
  });

  it('refuses a statement PostgreSQL runs only outside a transaction, says why, and applies none of that migration', async () => {
    const db = await emptyDatabase();
    const folder = folderWith({
      '29990101000000_concurrently': 'CREATE TABLE made_before (id int);\nCREATE INDEX CONCURRENTLY made_before_id_idx ON made_before (id);\n',
    });
    const failure = migrateDatabase({ databaseUrl: db.url, logger, migrationsFolder: folder });
    await expect(failure).rejects.toThrow(/cannot run inside a transaction block/);
    await expect(failure).rejects.toThrow(/Latch applies each migration whole, in one transaction/);
    expect(await tableExists(db.url, 'made_before')).toBe(false);
    expect(await rowsOf(db.url, '29990101000000_concurrently')).toMatchObject([{ finished_at: null, applied_steps_count: 0 }]);
  });

  it('refuses a migration that ends its own transaction, and records it as failed once', async () => {
    const db = await emptyDatabase();
    const folder = folderWith({
      '29990101000000_commits': 'CREATE TABLE committed_early (id int);\nCOMMIT;\nCREATE TABLE after_commit (id int);\n',
    });
    await expect(migrateDatabase({ databaseUrl: db.url, logger, migrationsFolder: folder })).rejects.toThrow(/ends the transaction it runs in/);
    const rows = await rowsOf(db.url, '29990101000000_commits');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ finished_at: null, rolled_back_at: null, applied_steps_count: 0 });
    expect(rows[0]!.logs).toContain('ends the transaction it runs in');
    // And every later run stops on it.
    await expect(migrateDatabase({ databaseUrl: db.url, logger, migrationsFolder: folder })).rejects.toThrow(/The `29990101000000_commits` migration started at/);
  });
});

describe('latch migrate on an existing history', () => {
  it('leaves an applied migration whose file changed alone, as `prisma migrate deploy` does, and warns naming it', async () => {
    const db = await emptyDatabase();
    const folder = folderWith({});
    await migrateDatabase({ databaseUrl: db.url, logger, migrationsFolder: folder });
    const before = await migrationHistory(db.url);
    const [first, second] = [MIGRATIONS[0]!, MIGRATIONS.at(-1)!];
    appendFileSync(join(folder, second, 'migration.sql'), '\nCREATE TABLE added_later (id int);\n');
    // Line endings changed by git are not a change (Prisma compares both ways too).
    const firstFile = join(folder, first, 'migration.sql');
    writeFileSync(firstFile, readFileSync(firstFile, 'utf8').replaceAll('\n', '\r\n'));

    const lines: Array<Record<string, unknown>> = [];
    const capturing = createLogger({ level: 'warn', destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) } });
    const { applied } = await migrateDatabase({ databaseUrl: db.url, logger: capturing, migrationsFolder: folder });
    expect(applied).toEqual([]);
    expect(lines.map((line) => line.migration)).toEqual([second]);
    expect(lines[0]!.msg).toContain(`migration ${second} was changed after it was applied`);
    expect(await tableExists(db.url, 'added_later')).toBe(false);
    expect(await migrationHistory(db.url)).toEqual(before);
  });

  it('refuses a schema that holds tables but no migration history, and creates nothing', async () => {
    const db = await emptyDatabase();
    await query(db.url, 'CREATE TABLE someone_elses (id int)');
    await expect(migrateDatabase({ databaseUrl: db.url, logger })).rejects.toThrow(/the database schema is not empty but has no migration history/);
    expect(await tableExists(db.url, '_prisma_migrations')).toBe(false);
    expect(await tableExists(db.url, 'access_requests')).toBe(false);
  });

  it('applies each migration once when several runs in one process start at once, and the service then finds none pending', async () => {
    const db = await emptyDatabase();
    const results = await Promise.all([1, 2, 3, 4].map(() => migrateDatabase({ databaseUrl: db.url, logger })));
    expect(results.map((result) => result.applied).sort((a, b) => b.length - a.length)).toEqual([MIGRATIONS, [], [], []]);
    const history = await migrationHistory(db.url);
    expect(history.map((row) => row.migration_name)).toEqual(MIGRATIONS);
    const prisma = createDatabase({ databaseUrl: db.url });
    try {
      expect(await findPendingMigrations(prisma)).toEqual([]);
    } finally {
      await prisma.$disconnect();
    }
  });

  it("waits while `prisma migrate deploy` holds Prisma's own migration lock, so the two never interleave", async () => {
    const db = await emptyDatabase();
    const prismaDeploy = new pg.Client({ connectionString: db.url });
    await prismaDeploy.connect();
    await prismaDeploy.query('SELECT pg_advisory_lock($1)', [PRISMA_MIGRATE_LOCK_KEY.toString()]);
    const migrating = migrateDatabase({ databaseUrl: db.url, logger });
    await expect
      .poll(async () => (await query<{ n: number }>(db.url, "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'latch migrate' AND wait_event = 'advisory'"))[0]!.n, { timeout: 20_000 })
      .toBe(1);
    expect(await tableExists(db.url, '_prisma_migrations')).toBe(false);
    await prismaDeploy.end();
    expect((await migrating).applied).toEqual(MIGRATIONS);
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
