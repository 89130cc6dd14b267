import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDatabase, type Database } from '../../../src/store/database.ts';
import { adminQuery, createTestDatabase, type TestDatabase } from '../../helpers/test-database.ts';

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

describe('the database pool', () => {
  it('survives PostgreSQL closing its idle connections (a restart, a failover) and serves the next query', async () => {
    // The plain-SQL paths use the pool before Prisma has connected: no listener of Prisma's yet.
    const { rows } = await db.pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    expect(db.pool.idleCount).toBe(1);
    await adminQuery(inject('adminDatabaseUrl'), `SELECT pg_terminate_backend(${rows[0]!.pid})`);
    // The pool notices the closed connection and drops it; an unhandled 'error' would fail the run.
    await expect.poll(() => db.pool.totalCount).toBe(0);
    const again = await db.pool.query<{ one: number }>('SELECT 1 AS one');
    expect(again.rows).toEqual([{ one: 1 }]);
  });
});
