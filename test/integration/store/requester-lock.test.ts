import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, type Database } from '../../../src/store/database.ts';
import { postgresHashtext } from '../../../src/store/postgres-hashtext.ts';
import { lockingRequester } from '../../../src/store/requester-lock.ts';
import { inSqlTransaction } from '../../../src/store/transaction.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/test-database.ts';
import { waitForValue } from '../../helpers/wait-for-value.ts';

let testDb: TestDatabase;
let db: Database;

beforeAll(async () => {
  testDb = await createTestDatabase();
  db = createDatabase({ databaseUrl: testDb.url, poolSize: 2 });
});
afterAll(async () => {
  await db.$disconnect();
  await testDb.drop();
});

describe("the requester's lock, keyed by an integer Latch computes", () => {
  it("computes PostgreSQL's own hashtext for ids of every length, in any script", async () => {
    const ids = [
      '',
      'U0REQUESTER',
      'W012A3CDE',
      'machine:deploy-bot',
      'héllo wörld ✓ 🎉 日本語',
      ...Array.from({ length: 40 }, (_, length) => 'x'.repeat(length)),
      ...Array.from({ length: 200 }, (_, i) => randomBytes(i % 37).toString('base64')),
      ...Array.from({ length: 50 }, (_, i) => String.fromCodePoint(...Array.from({ length: i % 13 }, (_, j) => 0x20 + ((i * 7919 + j * 104729) % 0x2fff)))),
    ];
    const { rows } = await db.pool.query<{ hash: number }>('SELECT hashtext(id) AS hash FROM unnest($1::text[]) WITH ORDINALITY AS ids(id, n) ORDER BY n', [ids]);
    expect(ids.map(postgresHashtext)).toEqual(rows.map((row) => row.hash));
  });

  it('takes turns with a process that locks the same requester by hashtext, as Latch did before (a rolling deploy)', async () => {
    const older = new pg.Client({ connectionString: testDb.url });
    await older.connect();
    try {
      await older.query('BEGIN');
      await older.query('SELECT pg_advisory_xact_lock($1::int, hashtext($2))', [4918, 'U0REQUESTER']);
      let entered = false;
      const newer = inSqlTransaction(
        db,
        async () => {
          entered = true;
        },
        lockingRequester('U0REQUESTER'),
      );
      // The newer transaction waits on the older one's lock, seen in PostgreSQL rather than timed.
      await waitForValue(async () => {
        const { rows } = await older.query<{ waiting: number }>(
          `SELECT count(*)::int AS waiting FROM pg_locks
            WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
              AND classid = 4918 AND objid::bigint = hashtext('U0REQUESTER')::bigint & 4294967295 AND objsubid = 2`,
        );
        return rows[0]!.waiting > 0 ? true : null;
      });
      expect(entered).toBe(false);
      await older.query('COMMIT');
      await newer;
      expect(entered).toBe(true);
    } finally {
      await older.end();
    }
  });
});
