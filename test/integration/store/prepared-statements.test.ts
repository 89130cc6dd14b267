import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { markMessagesShown } from '../../../src/services/messages-shown.ts';
import { createDatabase, type Database } from '../../../src/store/database.ts';
import { readRequest, readRequestForDecision, readRequestForMessages } from '../../../src/store/request-reads.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/test-database.ts';

let testDb: TestDatabase;
let db: Database;

beforeAll(async () => {
  testDb = await createTestDatabase();
  // One connection: every statement below runs in the same PostgreSQL session.
  db = createDatabase({ databaseUrl: testDb.url, poolSize: 1 });
});
afterAll(async () => {
  await db.$disconnect();
  await testDb.drop();
});

const prepared = async () => (await db.pool.query<{ name: string }>('SELECT name FROM pg_prepared_statements ORDER BY name')).rows.map((row) => row.name);

/**
 * The hot statements of a decision are prepared once per connection (store/prepared-statement.ts):
 * PostgreSQL spent more CPU planning the messages' read than running it (issue 19).
 */
describe('prepared statements', () => {
  it("keeps a decision's reads and the messages' record prepared in the session, once each", async () => {
    for (let i = 0; i < 3; i += 1) {
      const id = randomUUID();
      expect(await readRequestForMessages(db, id)).toBeNull();
      expect(await readRequestForDecision(db, id)).toBeNull();
      expect(await readRequest(db, id)).toBeNull();
      expect(await markMessagesShown(db, id, { approvalChannelId: null, approvalMessageTs: null, requesterChannelId: null, requesterMessageTs: null, securityMessageTs: null }, 1n)).toEqual({ latest: 0n });
    }
    expect(await prepared()).toEqual(['latch_mark_messages_shown', 'latch_request', 'latch_request_for_decision', 'latch_request_for_messages']);
  });

  it('still reads after a migration changes a table under a prepared statement (PostgreSQL plans it again)', async () => {
    const id = randomUUID();
    expect(await readRequestForMessages(db, id)).toBeNull();
    await db.pool.query('ALTER TABLE access_requests ADD COLUMN dec20_added text');
    await db.pool.query('CREATE INDEX dec20_added_index ON access_requests (dec20_added)');
    expect(await readRequestForMessages(db, id)).toBeNull();
    await db.pool.query('ALTER TABLE access_requests DROP COLUMN dec20_added');
    expect(await readRequestForMessages(db, id)).toBeNull();
    expect(await prepared()).toContain('latch_request_for_messages');
  });

  it("reads again at once after a migration changes the type of a column it returns, which PostgreSQL's plan refuses once", async () => {
    const id = randomUUID();
    expect(await readRequestForMessages(db, id)).toBeNull();
    expect(await readRequest(db, id)).toBeNull();
    // Unretried, the next run of each fails with "cached plan must not change result type" (0A000).
    await db.pool.query('ALTER TABLE access_requests ALTER COLUMN reason TYPE varchar(5000)');
    expect(await readRequestForMessages(db, id)).toBeNull();
    expect(await readRequest(db, id)).toBeNull();
    await db.pool.query('ALTER TABLE access_requests ALTER COLUMN reason TYPE text');
    expect(await readRequestForMessages(db, id)).toBeNull();
    expect(await prepared()).toContain('latch_request_for_messages');
  });
});
