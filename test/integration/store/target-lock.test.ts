import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TargetLockUnavailable } from '../../../src/providers/target-lock.ts';
import { PostgresTargetLocks, type TargetLockOptions } from '../../../src/store/target-lock.ts';
import { freePort } from '../../helpers/free-port.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/test-database.ts';

/** The target lock on real PostgreSQL; each PostgresTargetLocks stands for one Latch process. */
let database: TestDatabase;
const opened: PostgresTargetLocks[] = [];

beforeAll(async () => {
  database = await createTestDatabase({ migrated: false });
});
afterAll(async () => {
  await Promise.all(opened.map((locks) => locks.close({ force: true })));
  await database?.drop();
});

function processLocks(options: Partial<TargetLockOptions> = {}): PostgresTargetLocks {
  const locks = new PostgresTargetLocks({ databaseUrl: database.url, poolSize: 3, ...options });
  opened.push(locks);
  return locks;
}

/** A holder of `key` that keeps it until `release()`. */
async function hold(locks: PostgresTargetLocks, key: string) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let taken!: () => void;
  const isTaken = new Promise<void>((resolve) => (taken = resolve));
  const done = locks.withLock(key, async () => {
    taken();
    await released;
  });
  await isTaken;
  return { release, done };
}

describe('PostgresTargetLocks', () => {
  it('lets one holder of a key run at a time across processes, and other keys at once', async () => {
    const [first, second] = [processLocks(), processLocks()];
    const log: string[] = [];
    const holder = await hold(first, 'group-1');
    const waiting = second.withLock('group-1', async () => void log.push('second ran'));
    await second.withLock('group-2', async () => void log.push('other key ran'));
    expect(log).toEqual(['other key ran']);
    log.push('first released');
    holder.release();
    await Promise.all([holder.done, waiting]);
    expect(log).toEqual(['other key ran', 'first released', 'second ran']);
  });

  it('gives up after its wait, without running the work, while another holder is stuck', async () => {
    const holder = await hold(processLocks(), 'stuck');
    let ran = false;
    const attempt = processLocks({ waitMs: 200 }).withLock('stuck', async () => void (ran = true));
    await expect(attempt).rejects.toBeInstanceOf(TargetLockUnavailable);
    await expect(attempt).rejects.toThrow(/could not take the lock on stuck: another holder kept it past the wait/);
    expect(ran).toBe(false);
    holder.release();
    await holder.done;
  });

  it('releases the lock when the work fails, and passes the work’s error on', async () => {
    const locks = processLocks();
    await expect(locks.withLock('failing', async () => Promise.reject(new Error('Slack said no')))).rejects.toThrow('Slack said no');
    expect(await processLocks({ waitMs: 200 }).withLock('failing', async () => 'free again')).toBe('free again');
  });

  it('takes the lock from a holder that hangs past the hold limit, and tells that holder its lock was lost', async () => {
    const hung = processLocks({ holdLimitMs: 300 });
    const holder = await hold(hung, 'hung');
    // PostgreSQL ends the hung holder's session: the next one gets the lock without a stuck wait.
    expect(await processLocks({ waitMs: 10_000 }).withLock('hung', async () => 'taken over')).toBe('taken over');
    holder.release();
    await expect(holder.done).rejects.toThrow(/the lock was lost while it was held/);
  });

  it('is unavailable, not a crash, when PostgreSQL cannot be reached', async () => {
    const url = new URL(database.url);
    url.port = String(await freePort());
    const locks = new PostgresTargetLocks({ databaseUrl: url.toString(), waitMs: 2_000 });
    opened.push(locks);
    await expect(locks.withLock('anything', async () => 'ran')).rejects.toBeInstanceOf(TargetLockUnavailable);
  });
});
