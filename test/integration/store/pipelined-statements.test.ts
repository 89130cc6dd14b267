import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { verifyAuditChain } from '../../../src/services/verify-audit-chain.ts';
import { appendAuditEvent, rowsWithRecordedAuditEvents } from '../../../src/store/audit-log.ts';
import { createDatabase, type Database } from '../../../src/store/database.ts';
import { sendPipelined } from '../../../src/store/pipelined-statements.ts';
import { preparedStatement } from '../../../src/store/prepared-statement.ts';
import { lockingRequester } from '../../../src/store/requester-lock.ts';
import { inSqlTransaction } from '../../../src/store/transaction.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/test-database.ts';
import { waitForValue } from '../../helpers/wait-for-value.ts';

let testDb: TestDatabase;
let db: Database;

// A pool of one connection: a connection left in pipeline mode, or with an answer unread, would
// fail the next statement on it.
beforeEach(async () => {
  testDb = await createTestDatabase();
  db = createDatabase({ databaseUrl: testDb.url, poolSize: 1 });
  await db.pool.query('CREATE TABLE changes (name text PRIMARY KEY, requester text)');
});
afterEach(async () => {
  await db.$disconnect();
  await testDb.drop();
});

async function changes(): Promise<string[]> {
  return (await db.pool.query<{ name: string }>('SELECT name FROM changes ORDER BY name')).rows.map((row) => row.name);
}

/** Waits until a transaction waits for the requester lock of `requesterId`, as PostgreSQL sees it. */
async function someoneWaitsForLockOf(observer: pg.Client, requesterId: string): Promise<void> {
  await waitForValue(async () => {
    const { rows } = await observer.query<{ waiting: number }>(
      `SELECT count(*)::int AS waiting FROM pg_locks
        WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND classid = 4918 AND objid::bigint = hashtext($1)::bigint & 4294967295 AND objsubid = 2`,
      [requesterId],
    );
    return rows[0]!.waiting > 0 ? true : null;
  });
}

describe('sendPipelined (statements sent in one write on a held connection)', () => {
  it('gives back each statement’s result in order, hostile text kept a parameter, and leaves the connection as it found it', async () => {
    const client = await db.pool.connect();
    try {
      const hostile = `'); DROP TABLE changes; -- $1 $$ \\ "`;
      const sending = sendPipelined(client, [
        { text: 'SELECT 1 AS n' },
        { text: 'INSERT INTO changes (name) VALUES ($1) RETURNING name', values: [hostile] },
        { text: 'SELECT count(*)::int AS n FROM changes WHERE name = $1', values: [hostile] },
      ]);
      // All three are on the wire before the first is answered (not sent one by one, the fallback
      // for a node-postgres without pipeline mode): the first running, two sent behind it.
      expect((client as unknown as { _sentQueryQueue: unknown[] })._sentQueryQueue).toHaveLength(2);
      const results = await sending;
      expect(results.map((result) => result.rows)).toEqual([[{ n: 1 }], [{ name: hostile }], [{ n: 1 }]]);
      expect((client as unknown as { pipeline: boolean }).pipeline).toBe(false);
      // The next statement is an ordinary one on the same connection.
      expect((await client.query('SELECT 2 AS n')).rows).toEqual([{ n: 2 }]);
    } finally {
      client.release();
    }
  });

  it('throws the first failure once every statement has answered; a transaction’s later statements are refused, nothing is committed, the connection serves the next one', async () => {
    const client = await db.pool.connect();
    try {
      await expect(
        sendPipelined(client, [
          { text: 'BEGIN' },
          { text: 'INSERT INTO changes (name) VALUES ($1)', values: ['before the failure'] },
          { text: 'SELECT 1 / $1::int', values: [0] },
          { text: 'INSERT INTO changes (name) VALUES ($1)', values: ['after the failure'] },
        ]),
      ).rejects.toThrow('division by zero');
      // The transaction is aborted: COMMIT is answered with a rollback.
      expect((await client.query('COMMIT')).command).toBe('ROLLBACK');
      expect((await client.query('SELECT 3 AS n')).rows).toEqual([{ n: 3 }]);
    } finally {
      client.release();
    }
    expect(await changes()).toEqual([]);
  });
});

describe('inSqlTransaction with a statement pipelined behind its opening lock, and COMMIT behind its one change', () => {
  it('runs the statement behind the lock once it is granted: it sees what the lock’s previous holder committed', async () => {
    const holder = new pg.Client({ connectionString: testDb.url });
    await holder.connect();
    try {
      await holder.query(`BEGIN; SELECT pg_advisory_xact_lock(4918, hashtext('U0REQUESTER'))`);
      await holder.query(`INSERT INTO changes (name, requester) VALUES ('the holder''s', 'U0REQUESTER')`);
      const waiting = inSqlTransaction(
        db,
        async (_tx, opened: Array<{ seen: number }>) => opened[0]!.seen,
        { ...lockingRequester('U0REQUESTER'), followedBy: { statement: 'SELECT count(*)::int AS seen FROM changes WHERE requester = $1', values: ['U0REQUESTER'] } },
      );
      await someoneWaitsForLockOf(holder, 'U0REQUESTER');
      await holder.query('COMMIT');
      // Read after the lock was granted, in a snapshot of its own: the holder's row is counted.
      expect(await waiting).toBe(1);
    } finally {
      await holder.end();
    }
  });

  it('rolls back, and lets the lock go, when the statement behind the opening fails; the connection serves the next one', async () => {
    await expect(
      inSqlTransaction(
        db,
        async (tx) => {
          await tx.rows('INSERT INTO changes (name) VALUES ($1)', ['never']);
          return 'ran';
        },
        { ...lockingRequester('U0REQUESTER'), followedBy: { statement: 'SELECT 1 / $1::int', values: [0] } },
      ),
    ).rejects.toThrow('division by zero');
    expect(await changes()).toEqual([]);
    // The lock was let go with the transaction: another takes it at once; a prepared statement
    // behind the opening is parsed once on the connection, then run by its name.
    const seven = preparedStatement('pipelined_test_seven', 'SELECT $1::int AS n');
    for (let run = 0; run < 2; run += 1) {
      expect(await inSqlTransaction(db, async (_tx, opened: Array<{ n: number }>) => opened[0]!.n, { ...lockingRequester('U0REQUESTER'), followedBy: { statement: seven, values: [7] } })).toBe(7);
    }
    expect((await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name = 'latch_pipelined_test_seven'`)).rows[0]!.n).toBe(1);
  });

  it('commits the change and its events with the change’s own round trip, and sends nothing after it', async () => {
    const result = await inSqlTransaction(db, async (tx) => {
      await appendAuditEvent(tx, { actor: 'U1', action: 'change.made', at: new Date(), data: {} });
      const rows = await rowsWithRecordedAuditEvents<{ name: string }>(tx, 'INSERT INTO changes (name) VALUES ($1) RETURNING name', ['made'], { thenCommit: true });
      expect(tx.committed).toBe(true);
      // Nothing more may run in a committed transaction.
      await expect(tx.rows('SELECT 1')).rejects.toThrow('after the transaction committed');
      return rows;
    });
    expect(result).toEqual([{ name: 'made' }]);
    expect(await changes()).toEqual(['made']);
    expect((await db.auditEvent.findMany()).map((event) => event.action)).toEqual(['change.made']);
    expect(await verifyAuditChain(testDb.url)).toMatchObject({ ok: true, events: 1 });
  });

  it('commits nothing when the change fails (its own error is thrown), nor when events are recorded after the commit', async () => {
    await db.pool.query(`INSERT INTO changes (name) VALUES ('taken')`);
    const failure = await inSqlTransaction(db, async (tx) => {
      await tx.rows('INSERT INTO changes (name) VALUES ($1)', ['first of two']);
      await appendAuditEvent(tx, { actor: 'U1', action: 'change.made', at: new Date(), data: {} });
      return rowsWithRecordedAuditEvents(tx, 'INSERT INTO changes (name) VALUES ($1) RETURNING name', ['taken'], { thenCommit: true });
    }).catch((error: unknown) => error);
    expect((failure as { code?: string }).code).toBe('23505');
    expect(await changes()).toEqual(['taken']);
    expect(await db.auditEvent.count()).toBe(0);

    // A work that records an event after its commit is a programming error, refused loudly.
    await expect(
      inSqlTransaction(db, async (tx) => {
        await tx.rowsThenCommit('INSERT INTO changes (name) VALUES ($1)', ['committed']);
        await appendAuditEvent(tx, { actor: 'U1', action: 'too.late', at: new Date(), data: {} });
      }),
    ).rejects.toThrow('recorded after the transaction committed');
    expect(await db.auditEvent.count()).toBe(0);
    // The connection serves the next transaction.
    expect(await inSqlTransaction(db, async (tx) => (await tx.rows<{ n: number }>('SELECT 5 AS n'))[0]!.n)).toBe(5);
  });
});
