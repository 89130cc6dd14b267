import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { verifyAuditChain } from '../../../src/services/verify-audit-chain.ts';
import { appendAuditEvent } from '../../../src/store/audit-log.ts';
import { createDatabase, type Database } from '../../../src/store/database.ts';
import { inTransaction } from '../../../src/store/transaction.ts';
import { runLatch } from '../../helpers/latch-process.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/test-database.ts';

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

/** Tampering as someone with direct database access would do it. */
async function tamper(sql: string) {
  const client = new pg.Client({ connectionString: testDb.url });
  await client.connect();
  try {
    await client.query(sql);
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

describe('latch audit verify', () => {
  it('exits 0 with the head when intact and 1 naming the event when not', async () => {
    await writeChain(3);
    const intact = await runLatch(['audit', 'verify'], { DATABASE_URL: testDb.url });
    expect(intact.code).toBe(0);
    expect(intact.stdout).toMatch(/^audit chain intact: 3 events verified; head: event 3, hash [0-9a-f]{64}\n$/);
    await tamper(`UPDATE audit_events SET action = 'request.approved' WHERE seq = 2`);
    const broken = await runLatch(['audit', 'verify'], { DATABASE_URL: testDb.url });
    expect(broken.code).toBe(1);
    expect(broken.stderr).toBe('latch: audit chain broken at event 2: event 2 does not match its hash (altered) (1 events before it verified)\n');
  });
});
