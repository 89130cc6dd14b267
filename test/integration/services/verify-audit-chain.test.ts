import pg from 'pg';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { verifyAuditChain } from '../../../src/services/verify-audit-chain.ts';
import { appendAuditEvent } from '../../../src/store/audit-log.ts';
import { grantAppRole } from '../../../src/store/app-role.ts';
import { createDatabase, type Database } from '../../../src/store/database.ts';
import { inTransaction } from '../../../src/store/transaction.ts';
import { runLatch } from '../../helpers/latch-process.ts';
import { adminQuery, createTestDatabase, type TestDatabase } from '../../helpers/test-database.ts';

let testDb: TestDatabase;
let db: Database;

// Each test gets its own database: tampering is the point, and it must not leak.
beforeEach(async () => {
  testDb = await createTestDatabase();
  db = createDatabase({ databaseUrl: testDb.url, poolSize: 2 });
});
afterEach(async () => {
  await db.$disconnect();
  await testDb.drop();
});

async function writeChain(length: number) {
  for (let i = 1; i <= length; i++) {
    await inTransaction(db, (tx) =>
      appendAuditEvent(tx, { actor: `U${i}`, action: 'request.created', at: new Date(Date.UTC(2026, 10, 24, 9, 0, i)), data: { n: i } }),
    );
  }
}

/**
 * Tampering as a superuser or the tables' owner could: with the append-only triggers skipped.
 * That such a person can rewrite rows is exactly why the chain must expose it.
 */
async function tamper(sql: string) {
  const client = new pg.Client({ connectionString: testDb.url });
  await client.connect();
  try {
    await client.query(`BEGIN; SET LOCAL session_replication_role = replica; ${sql}; COMMIT`);
  } finally {
    await client.end();
  }
}

describe('verifyAuditChain', () => {
  it('accepts an intact chain and reports its head', async () => {
    await writeChain(5);
    const head = await db.auditEvent.findFirstOrThrow({ where: { seq: 5n } });
    expect(await verifyAuditChain(db)).toEqual({ ok: true, events: 5, head: { seq: 5n, hash: head.hash } });
  });

  it('accepts an empty chain', async () => {
    expect(await verifyAuditChain(db)).toEqual({ ok: true, events: 0, head: null });
  });

  it.each([
    ['altered', `UPDATE audit_events SET data = '{"n": 99}' WHERE seq = 3`, 3n, /does not match its hash \(altered\)/],
    ['altered actor', `UPDATE audit_events SET actor = 'U0MALLORY' WHERE seq = 2`, 2n, /altered/],
    ['removed', 'DELETE FROM audit_events WHERE seq = 3', 3n, /event 3 is missing/],
    ['removed last', 'DELETE FROM audit_events WHERE seq = 5', null, null],
    [
      'relinked',
      `UPDATE audit_events SET prev_hash = repeat('a', 64) WHERE seq = 4`,
      4n,
      /does not link to the event before it/,
    ],
    [
      'inserted',
      // Room made at 3 for a forged event linked to event 2; the old 3 becomes 4.
      `UPDATE audit_events SET seq = seq + 10 WHERE seq >= 3; UPDATE audit_events SET seq = seq - 9 WHERE seq >= 13;
       INSERT INTO audit_events (seq, at, actor, action, request_id, data, prev_hash, hash)
         SELECT 3, at, 'U0MALLORY', 'request.approved', NULL, '{}', hash, repeat('b', 64) FROM audit_events WHERE seq = 2`,
      3n,
      /event 3 does not match its hash/,
    ],
    [
      'reordered',
      'UPDATE audit_events SET seq = 100 WHERE seq = 2; UPDATE audit_events SET seq = 2 WHERE seq = 3; UPDATE audit_events SET seq = 3 WHERE seq = 100',
      2n,
      /does not link/,
    ],
  ])('finds the first broken event when one was %s', async (_how, sql, seq, message) => {
    await writeChain(5);
    await tamper(sql);
    const report = await verifyAuditChain(db);
    if (seq === null) {
      // Cutting the tail leaves a valid shorter chain: that is why digests anchor the head in Slack.
      expect(report).toMatchObject({ ok: true, events: 4 });
      return;
    }
    expect(report).toMatchObject({ ok: false, seq, message: expect.stringMatching(message!) });
  });
});

describe('the append-only audit table', () => {
  it.each([
    ['UPDATE', `UPDATE audit_events SET actor = 'U0MALLORY' WHERE seq = 1`],
    ['DELETE', 'DELETE FROM audit_events WHERE seq = 1'],
    ['TRUNCATE', 'TRUNCATE audit_events'],
  ])('refuses %s, even through the app’s own connection', async (operation, sql) => {
    await writeChain(2);
    await expect(db.$executeRawUnsafe(sql)).rejects.toThrow(new RegExp(`audit_events is append-only: ${operation} is not allowed`));
    expect(await verifyAuditChain(db)).toMatchObject({ ok: true, events: 2 });
  });
});

describe('running as a role that does not own the tables (README: Protecting the audit trail)', () => {
  it('can append audit events, but neither rewrite them nor switch off the guard', async () => {
    const role = `latch_app_${Math.random().toString(36).slice(2, 10)}`;
    await tamper(`CREATE ROLE ${role} LOGIN`);
    // The README's grants, from the one file that lists them.
    await grantAppRole(testDb.url, role);
    const url = new URL(testDb.url);
    url.username = role;
    const appDb = createDatabase({ databaseUrl: url.toString(), poolSize: 1 });
    try {
      await inTransaction(appDb, (tx) => appendAuditEvent(tx, { actor: 'U1', action: 'request.created', at: new Date(), data: {} }));
      await expect(appDb.$executeRawUnsafe(`UPDATE audit_events SET actor = 'x'`)).rejects.toThrow(/permission denied|append-only/);
      await expect(appDb.$executeRawUnsafe('ALTER TABLE audit_events DISABLE TRIGGER ALL')).rejects.toThrow(/must be owner/);
      await expect(appDb.$executeRawUnsafe('DELETE FROM audit_events')).rejects.toThrow(/permission denied|append-only/);
      expect(await verifyAuditChain(db)).toMatchObject({ ok: true, events: 1 });
    } finally {
      await appDb.$disconnect();
      // Roles are cluster-wide: drop the database holding its privileges, then the role itself.
      await testDb.drop();
      await adminQuery(inject('adminDatabaseUrl'), `DROP ROLE ${role}`);
    }
  });
});

// Two `latch audit verify` processes, each also comparing the state rows and decisions.
describe('latch audit verify', { timeout: 90_000 }, () => {
  it('exits 0 with the head when intact and 1 naming the event when not', async () => {
    await writeChain(3);
    const intact = await runLatch(['audit', 'verify'], { DATABASE_URL: testDb.url });
    expect(intact.code).toBe(0);
    expect(intact.stdout).toMatch(/^audit chain intact: 3 events verified; head: event 3, hash [0-9a-f]{64}\nstate: 0 requests checked against their events, 0 mismatch\(es\)\n/);
    await tamper(`UPDATE audit_events SET action = 'request.approved' WHERE seq = 2`);
    const broken = await runLatch(['audit', 'verify'], { DATABASE_URL: testDb.url });
    expect(broken.code).toBe(1);
    expect(broken.stderr).toBe('latch: audit chain broken at event 2: event 2 does not match its hash (altered) (1 events before it verified)\n');
  });
});
