import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { verifyAuditChain } from '../../../src/services/verify-audit-chain.ts';
import { appendAuditEvent, appendAuditEvents, rowsWithRecordedAuditEvents } from '../../../src/store/audit-log.ts';
import { createDatabase, type Database } from '../../../src/store/database.ts';
import { SqlTransaction } from '../../../src/store/sql-transaction.ts';
import { inSqlTransaction, inTransaction } from '../../../src/store/transaction.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/test-database.ts';

let testDb: TestDatabase;
let db: Database;

// Each test gets its own database and a pool of one connection: a connection a transaction left
// broken or still open would fail the next one.
beforeEach(async () => {
  testDb = await createTestDatabase();
  db = createDatabase({ databaseUrl: testDb.url, poolSize: 1 });
  await db.pool.query('CREATE TABLE changes (name text PRIMARY KEY)');
});
afterEach(async () => {
  await db.$disconnect();
  await testDb.drop();
});

async function changes(): Promise<string[]> {
  return (await db.pool.query<{ name: string }>('SELECT name FROM changes ORDER BY name')).rows.map((row) => row.name);
}

async function auditActions(): Promise<string[]> {
  return (await db.auditEvent.findMany({ orderBy: { seq: 'asc' } })).map((event) => event.action);
}

describe('inSqlTransaction (the hot paths’ transactions on one pooled pg connection)', () => {
  it('commits the work with its audit events, written in order after it, and gives back what the work returned', async () => {
    const result = await inSqlTransaction(db, async (tx) => {
      await appendAuditEvent(tx, { actor: 'U1', action: 'first', at: new Date(), data: {} });
      await tx.rows('INSERT INTO changes (name) VALUES ($1)', ['a']);
      await appendAuditEvents(tx, [
        { actor: 'U1', action: 'second', at: new Date(), data: {} },
        { actor: 'U1', action: 'third', at: new Date(), data: {} },
      ]);
      return (await tx.rows<{ n: bigint }>('SELECT count(*) AS n FROM changes'))[0]!.n;
    });
    // int8 reads as a bigint, as the generated models read it.
    expect(result).toBe(1n);
    expect(await changes()).toEqual(['a']);
    expect(await auditActions()).toEqual(['first', 'second', 'third']);
    expect(await verifyAuditChain(testDb.url)).toMatchObject({ ok: true, events: 3 });
  });

  it('leaves nothing when the work fails: neither its changes nor its audit events, and the connection serves the next one', async () => {
    await expect(
      inSqlTransaction(db, async (tx) => {
        await tx.rows('INSERT INTO changes (name) VALUES ($1)', ['rolled back']);
        await appendAuditEvent(tx, { actor: 'U1', action: 'rolled back', at: new Date(), data: {} });
        throw new Error('the state change failed');
      }),
    ).rejects.toThrow('the state change failed');
    // A statement PostgreSQL refuses fails the transaction the same way.
    await expect(
      inSqlTransaction(db, async (tx) => {
        await tx.rows('INSERT INTO changes (name) VALUES ($1)', ['duplicate']);
        await appendAuditEvent(tx, { actor: 'U1', action: 'refused', at: new Date(), data: {} });
        await tx.rows('INSERT INTO changes (name) VALUES ($1)', ['duplicate']);
      }),
    ).rejects.toMatchObject({ code: '23505' });
    // The audit append fails: nothing commits.
    await expect(
      inSqlTransaction(db, async (tx) => {
        await tx.rows('INSERT INTO changes (name) VALUES ($1)', ['unaudited']);
        await appendAuditEvent(tx, { actor: 'U1', action: 'unwritable', requestId: 'not a request id', at: new Date(), data: {} });
      }),
    ).rejects.toThrow(/uuid/);
    // A failed statement the work carried on past: nothing commits, and the caller hears of it.
    await expect(
      inSqlTransaction(db, async (tx) => {
        await tx.rows('INSERT INTO changes (name) VALUES ($1)', ['swallowed']);
        await tx.rows('SELECT 1 / 0').catch(() => undefined);
      }),
    ).rejects.toThrow(/rolled back/);
    expect(await changes()).toEqual([]);
    expect(await auditActions()).toEqual([]);
    await inSqlTransaction(db, async (tx) => {
      await tx.rows('INSERT INTO changes (name) VALUES ($1)', ['after']);
      await appendAuditEvent(tx, { actor: 'U1', action: 'after', at: new Date(), data: {} });
    });
    expect(await changes()).toEqual(['after']);
    expect(await auditActions()).toEqual(['after']);
  });

  it('keeps one gapless chain when its transactions and Prisma’s append at once', async () => {
    const concurrent = createDatabase({ databaseUrl: testDb.url, poolSize: 6 });
    try {
      await Promise.all(
        Array.from({ length: 24 }, (_, i) =>
          i % 2 === 0
            ? inSqlTransaction(concurrent, (tx) => appendAuditEvents(tx, [{ actor: `U${i}`, action: 'plain', at: new Date(), data: { i } }, { actor: `U${i}`, action: 'plain.second', at: new Date(), data: { i } }]))
            : inTransaction(concurrent, (tx) => appendAuditEvent(tx, { actor: `U${i}`, action: 'prisma', at: new Date(), data: { i } })),
        ),
      );
    } finally {
      await concurrent.$disconnect();
    }
    expect(await verifyAuditChain(testDb.url)).toMatchObject({ ok: true, events: 36 });
  });

  it('takes the chain’s lock only at COMMIT: a transaction that has appended but not committed holds nobody back, and the chain is in commit order', async () => {
    const open = new pg.Client({ connectionString: testDb.url });
    await open.connect();
    try {
      await open.query('BEGIN');
      await open.query("SELECT latch_append_audit_events(ARRAY[now()]::timestamptz[], ARRAY['U1'], ARRAY['written first'], ARRAY[NULL]::uuid[], ARRAY['{}']::jsonb[], ARRAY[NULL], ARRAY[NULL], ARRAY[NULL])");
      // Appended and still open: no advisory lock is held (before, the chain's was, until COMMIT).
      const { rows } = await db.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND pid = $1", [(open as unknown as { processID: number }).processID]);
      expect(rows[0]!.n).toBe(0);
      // So another transaction appends and commits meanwhile, and its event comes first.
      await inSqlTransaction(db, (tx) => appendAuditEvent(tx, { actor: 'U2', action: 'committed first', at: new Date(), data: {} }));
      expect(await auditActions()).toEqual(['committed first']);
      await open.query('COMMIT');
    } finally {
      await open.end();
    }
    expect(await auditActions()).toEqual(['committed first', 'written first']);
    expect(await verifyAuditChain(testDb.url)).toMatchObject({ ok: true, events: 2 });
    // Nothing is left staged once the transactions have ended, committed or not.
    await expect(inSqlTransaction(db, async (tx) => {
      await appendAuditEvent(tx, { actor: 'U3', action: 'rolled back', at: new Date(), data: {} });
      await tx.rows('SELECT latch_append_audit_events(ARRAY[now()]::timestamptz[], ARRAY[$1], ARRAY[$2], ARRAY[NULL]::uuid[], ARRAY[\'{}\']::jsonb[], ARRAY[NULL], ARRAY[NULL], ARRAY[NULL])', ['U3', 'staged then rolled back']);
      throw new Error('the work failed');
    })).rejects.toThrow('the work failed');
    expect((await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM latch_staging.audit_events')).rows[0]!.n).toBe(0);
    expect(await auditActions()).toEqual(['committed first', 'written first']);
  });

  it('refuses a statement sent while another of the same transaction is still running, and rolls the work back', async () => {
    await expect(
      inSqlTransaction(db, async (tx) => {
        await tx.rows('INSERT INTO changes (name) VALUES ($1)', ['first']);
        // The second is sent before the first has answered: pg would queue (or pipeline) it.
        const [, second] = await Promise.allSettled([tx.rows('SELECT pg_sleep(0.05)'), tx.rows('INSERT INTO changes (name) VALUES ($1)', ['second'])]);
        if (second.status === 'rejected') throw second.reason;
      }),
    ).rejects.toThrow(/still running: await each one/);
    expect(await changes()).toEqual([]);
    // The connection still serves the next transaction.
    await inSqlTransaction(db, (tx) => tx.rows('INSERT INTO changes (name) VALUES ($1)', ['after']));
    expect(await changes()).toEqual(['after']);
  });

  it('refuses an event appended in a transaction it did not open, which would never write it', async () => {
    const client = await db.pool.connect();
    try {
      await expect(appendAuditEvent(new SqlTransaction(client), { actor: 'U1', action: 'lost', at: new Date(), data: {} })).rejects.toThrow(/inside inTransaction or inSqlTransaction/);
    } finally {
      client.release();
    }
  });
});

describe('an opening statement, sent with BEGIN in one round trip', () => {
  const LOCK = { text: 'SELECT pg_advisory_xact_lock($1::int, $2::int)', values: [4918, -2147483648] };

  /** Whether another session could take the opening's lock now (and lets it go again at once). */
  async function lockIsFree(): Promise<boolean> {
    const other = new pg.Client({ connectionString: testDb.url });
    await other.connect();
    try {
      const { rows } = await other.query<{ free: boolean }>('SELECT pg_try_advisory_lock(4918, -2147483648) AS free');
      if (rows[0]!.free) await other.query('SELECT pg_advisory_unlock(4918, -2147483648)');
      return rows[0]!.free;
    } finally {
      await other.end();
    }
  }

  it('runs inside the transaction: the work sees the same transaction, and the lock it takes is held until COMMIT', async () => {
    const result = await inSqlTransaction(
      db,
      async (tx, opened) => {
        // Held while the work runs: the BEGIN before it really opened the transaction.
        expect(await lockIsFree()).toBe(false);
        const [now] = await tx.rows<{ xid: string }>('SELECT txid_current()::text AS xid');
        await tx.rows('INSERT INTO changes (name) VALUES ($1)', ['locked']);
        return { opened, xid: now!.xid };
      },
      { text: 'SELECT pg_advisory_xact_lock($1::int, $2::int), txid_current()::text AS xid, $1::int AS class', values: LOCK.values },
    );
    expect(result.opened).toEqual([{ pg_advisory_xact_lock: '', xid: result.xid, class: 4918 }]);
    expect(await changes()).toEqual(['locked']);
    expect(await lockIsFree()).toBe(true);
  });

  it('rolls back, and lets the lock go, when the opening or the work after it fails; the connection serves the next one', async () => {
    let ran = false;
    await expect(
      inSqlTransaction(
        db,
        async () => {
          ran = true;
        },
        { text: 'SELECT 1 / $1::int', values: [0] },
      ),
    ).rejects.toThrow(/division by zero/);
    expect(ran).toBe(false);
    await expect(
      inSqlTransaction(
        db,
        async (tx) => {
          await tx.rows('INSERT INTO changes (name) VALUES ($1)', ['rolled back']);
          await appendAuditEvent(tx, { actor: 'U1', action: 'rolled back', at: new Date(), data: {} });
          throw new Error('the state change failed');
        },
        LOCK,
      ),
    ).rejects.toThrow('the state change failed');
    expect(await lockIsFree()).toBe(true);
    expect(await changes()).toEqual([]);
    expect(await auditActions()).toEqual([]);
    await inSqlTransaction(db, (tx) => tx.rows('INSERT INTO changes (name) VALUES ($1)', ['after']), LOCK);
    expect(await changes()).toEqual(['after']);
  });

  it('refuses a value that is not an integer before sending anything', async () => {
    let ran = false;
    const opening = { text: 'SELECT pg_advisory_xact_lock($1::int, hashtext($2))', values: [4918, "U1'); DROP TABLE changes; --" as unknown as number] };
    await expect(
      inSqlTransaction(
        db,
        async () => {
          ran = true;
        },
        opening,
      ),
    ).rejects.toThrow(/integers only/);
    expect(ran).toBe(false);
    expect(await changes()).toEqual([]);
  });
});

describe('rowsWithRecordedAuditEvents (the last state change and its audit events in one statement)', () => {
  const INSERT_IF = 'INSERT INTO changes (name) SELECT $1 WHERE $2::boolean RETURNING name';

  it('writes the events recorded so far with the change, and those recorded after it before COMMIT', async () => {
    const rows = await inSqlTransaction(db, async (tx) => {
      await appendAuditEvent(tx, { actor: 'U1', action: 'before', at: new Date(), data: {} });
      const inserted = await rowsWithRecordedAuditEvents<{ name: string }>(tx, INSERT_IF, ['a', true]);
      // Staged by the statement itself (chained at COMMIT): no statement of its own is left to send.
      expect((await tx.rows<{ action: string }>('SELECT action FROM latch_staging.audit_events ORDER BY id')).map((event) => event.action)).toEqual(['before']);
      await appendAuditEvent(tx, { actor: 'U1', action: 'after', at: new Date(), data: {} });
      return inserted;
    });
    expect(rows).toEqual([{ name: 'a' }]);
    expect(await changes()).toEqual(['a']);
    expect(await auditActions()).toEqual(['before', 'after']);
    expect(await verifyAuditChain(testDb.url)).toMatchObject({ ok: true, events: 2 });
  });

  it('writes none of them when the statement changes nothing (a limit checked in it refused)', async () => {
    const rows = await inSqlTransaction(db, async (tx) => {
      await appendAuditEvent(tx, { actor: 'U1', action: 'refused', at: new Date(), data: {} });
      return rowsWithRecordedAuditEvents<{ name: string }>(tx, INSERT_IF, ['b', false]);
    });
    expect(rows).toEqual([]);
    expect(await changes()).toEqual([]);
    expect(await auditActions()).toEqual([]);
  });

  it('commits neither the change nor the events when the events cannot be written', async () => {
    await expect(
      inSqlTransaction(db, async (tx) => {
        await appendAuditEvent(tx, { actor: 'U1', action: 'unwritable', requestId: '00000000-0000-7000-8000-000000000000', at: new Date(), data: {} });
        await rowsWithRecordedAuditEvents(tx, INSERT_IF, ['c', true]);
      }),
    ).rejects.toThrow(/foreign key/);
    expect(await changes()).toEqual([]);
    expect(await auditActions()).toEqual([]);
  });
});
