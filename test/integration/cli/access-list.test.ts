import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, type Database } from '../../../src/store/database.ts';
import { runLatch } from '../../helpers/latch-process.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/test-database.ts';

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

const minutes = (n: number) => new Date(Date.now() + n * 60_000);

async function grant(principal: string, fields: { grantedAt: Date | null; expiresAt: Date | null; revokedAt?: Date; revokeAttempts?: number; lastError?: string }) {
  const request = await db.accessRequest.create({
    data: { requesterSlackId: 'U0HOLDER', resourceId: 'prod-db', role: 'read', principal, durationSeconds: 3600, reason: 'cli test', state: fields.grantedAt ? 'active' : 'approved' },
  });
  return db.grant.create({ data: { requestId: request.id, provider: 'postgres', principal, resourceId: 'prod-db', role: 'read', ...fields } });
}

describe('latch access', () => {
  it('says when nothing is open', async () => {
    const result = await runLatch(['access'], { DATABASE_URL: testDb.url });
    expect(result.stdout).toBe('no access granted by Latch is open\n');
    expect(result.code).toBe(0);
  });

  it('lists open access with overdue revocations first, and exits 1 while one is overdue', async () => {
    const active = await grant('alice', { grantedAt: minutes(-10), expiresAt: minutes(50) });
    const overdue = await grant('bob', { grantedAt: minutes(-70), expiresAt: minutes(-10), revokeAttempts: 7, lastError: 'connection refused' });
    await grant('carol', { grantedAt: minutes(-70), expiresAt: minutes(-10), revokedAt: minutes(-9) });
    await grant('dave', { grantedAt: null, expiresAt: null });

    const result = await runLatch(['access'], { DATABASE_URL: testDb.url });
    const lines = result.stdout.trim().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^REVOCATION OVERDUE {2}bob \(U0HOLDER\): read on prod-db; due .* UTC, 10m late; 7 attempt\(s\); last error: connection refused \[grant /);
    expect(lines[0]).toContain(overdue.id);
    expect(lines[1]).toMatch(/^active {14}alice \(U0HOLDER\): read on prod-db until .* UTC \[grant /);
    expect(lines[1]).toContain(active.id);
    expect(lines[2]).toMatch(/^being granted {7}dave /);
    expect(lines[3]).toBe('1 active, 1 being granted, 1 revocation(s) overdue');
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('latch: 1 revocation(s) overdue: Latch keeps retrying; see the lines marked REVOCATION OVERDUE\n');

    // Once revoked, it is off the list and the check passes again.
    await db.grant.update({ where: { id: overdue.id }, data: { revokedAt: new Date() } });
    const after = await runLatch(['access'], { DATABASE_URL: testDb.url });
    expect(after.code).toBe(0);
    expect(after.stdout).not.toContain('bob');
  });
});
