import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresAccessLocks, type AccessKey, type AccessLockOptions } from '../../../src/store/access-lock.ts';
import { FreezableProxy } from '../../helpers/freezable-proxy.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/test-database.ts';
import { waitForValue } from '../../helpers/wait-for-value.ts';

/**
 * The access lock on real PostgreSQL (issue 19): it is let go of without its holder waiting for
 * PostgreSQL's answer, and a read can go out with it in one round trip. Each PostgresAccessLocks
 * stands for one Latch process; `observer` is a session of its own that looks at the locks.
 */
let database: TestDatabase;
let observer: pg.Client;
const opened: PostgresAccessLocks[] = [];
const proxies: FreezableProxy[] = [];

beforeAll(async () => {
  database = await createTestDatabase({ migrated: false });
  observer = new pg.Client({ connectionString: database.url });
  await observer.connect();
  await observer.query('CREATE TABLE guarded (id int PRIMARY KEY, value text NOT NULL)');
  await observer.query("INSERT INTO guarded VALUES (1, 'before')");
});
afterAll(async () => {
  await Promise.all(opened.map((locks) => locks.close({ force: true })));
  await Promise.all(proxies.map((proxy) => proxy.close()));
  await observer?.end();
  await database?.drop();
});

function processLocks(options: Partial<AccessLockOptions> = {}): PostgresAccessLocks {
  const locks = new PostgresAccessLocks({ databaseUrl: database.url, poolSize: 3, ...options });
  opened.push(locks);
  return locks;
}

/** Locks whose connections go through a proxy the test can freeze. */
async function locksBehindProxy(options: Partial<AccessLockOptions> = {}): Promise<{ locks: PostgresAccessLocks; proxy: FreezableProxy }> {
  const url = new URL(database.url);
  const proxy = await FreezableProxy.start({ host: url.hostname, port: Number(url.port) });
  proxies.push(proxy);
  url.port = String(proxy.port);
  return { locks: processLocks({ ...options, databaseUrl: url.toString() }), proxy };
}

const access = (principal: string): AccessKey => ({ resourceId: 'prod-db', role: 'read', principal });

/**
 * Advisory locks of the access-lock class (4917) in this test's database (pg_locks shows the whole
 * server's, other test files' too), held or waited for by sessions other than the observer.
 */
async function accessLocksInPostgres(): Promise<{ held: number; waiting: number }> {
  const { rows } = await observer.query<{ held: number; waiting: number }>(
    `SELECT count(*) FILTER (WHERE granted)::int AS held, count(*) FILTER (WHERE NOT granted)::int AS waiting
       FROM pg_locks
      WHERE locktype = 'advisory' AND classid = 4917 AND pid <> pg_backend_pid()
        AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
  );
  return rows[0]!;
}

/** Waits until no session holds an access lock (a release that is on its way). */
async function noAccessLockHeld(): Promise<void> {
  await waitForValue(async () => ((await accessLocksInPostgres()).held === 0 ? true : null), 10_000, 20);
}

describe('PostgresAccessLocks', () => {
  it('frees its holder before PostgreSQL has answered the unlock, and releases the lock once it does', async () => {
    const { locks, proxy } = await locksBehindProxy({ poolSize: 1 });
    // While the proxy is frozen, the unlock cannot reach PostgreSQL: the holder is done anyway.
    const result = await locks.withLock(access('ada'), async () => {
      proxy.freeze();
      return 'revoked';
    });
    expect(result).toBe('revoked');
    // The lock is still PostgreSQL's to release: nothing let go of it behind the unlock's back.
    expect(await accessLocksInPostgres()).toEqual({ held: 1, waiting: 0 });
    proxy.thaw();
    await noAccessLockHeld();
    // The one connection is reused for the same lock, which it then holds once, not twice: after
    // this holder, the lock is free again.
    expect(await locks.withLock(access('ada'), async () => (await accessLocksInPostgres()).held)).toBe(1);
    await noAccessLockHeld();
  });

  it('closes a connection whose unlock failed, and takes the next lock on a new one', async () => {
    const { locks, proxy } = await locksBehindProxy({ poolSize: 1 });
    await locks.withLock(access('grace'), async () => proxy.freeze());
    // The lock's session ends before its unlock is delivered (a restart, a failover): PostgreSQL
    // releases the lock with the session, and the unlock fails when it is sent.
    await observer.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'latch-access-lock' AND datname = current_database()`);
    proxy.thaw();
    await noAccessLockHeld();
    expect(await locks.withLock(access('grace'), async () => (await accessLocksInPostgres()).held)).toBe(1);
    await noAccessLockHeld();
  });

  it('reads under the lock what the previous holder committed while it waited', async () => {
    const first = processLocks();
    const second = processLocks();
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let taken!: () => void;
    const isTaken = new Promise<void>((resolve) => (taken = resolve));
    const holder = first.withLock(access('linus'), async () => {
      taken();
      await released;
      // The holder's change commits before it lets go of the lock, as a revocation's write does.
      await observer.query("UPDATE guarded SET value = 'after' WHERE id = 1");
    });
    await isTaken;
    const reader = second.withLockAndRead(access('linus'), { text: 'SELECT value FROM guarded WHERE id = $1', values: [1] }, async (rows: Array<{ value: string }>) => rows.map((row) => row.value));
    // The read went out with the lock statement and waits with it, in PostgreSQL.
    await waitForValue(async () => ((await accessLocksInPostgres()).waiting === 1 ? true : null), 10_000, 20);
    release();
    await holder;
    // Read in one statement with the lock, it would have seen the row as it was when it was sent.
    expect(await reader).toEqual(['after']);
    await noAccessLockHeld();
  });

  it('runs nothing when the lock cannot be had within its wait, and holds nothing after', async () => {
    const holderLocks = processLocks();
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let taken!: () => void;
    const isTaken = new Promise<void>((resolve) => (taken = resolve));
    const holder = holderLocks.withLock(access('barbara'), async () => {
      taken();
      await released;
    });
    await isTaken;
    let ran = false;
    const attempt = processLocks({ waitMs: 200 }).withLockAndRead(access('barbara'), { text: 'SELECT 1 AS one', values: [] }, async () => void (ran = true));
    await expect(attempt).rejects.toThrow(/lock timeout/);
    expect(ran).toBe(false);
    release();
    await holder;
    await noAccessLockHeld();
  });

  it('lets go of the lock when the read under it fails, and passes the error on', async () => {
    const locks = processLocks();
    let ran = false;
    await expect(locks.withLockAndRead(access('margaret'), { text: 'SELECT no_such_column FROM guarded', values: [] }, async () => void (ran = true))).rejects.toThrow(/no_such_column/);
    expect(ran).toBe(false);
    await noAccessLockHeld();
    expect(await processLocks({ waitMs: 2_000 }).withLock(access('margaret'), async () => 'free again')).toBe('free again');
  });
});
