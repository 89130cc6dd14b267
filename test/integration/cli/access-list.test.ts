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

async function grant(
  principal: string,
  fields: { grantedAt: Date | null; expiresAt: Date | null; revokedAt?: Date; verifiedRevokedAt?: Date; revokeReason?: string; revokeAttempts?: number; lastError?: string },
) {
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

  it('with --ended, lists the access that ended within it first: verified gone (and how late), or not verified', async () => {
    await db.grant.deleteMany();
    await db.accessRequest.deleteMany();
    const verified = await grant('erin', { grantedAt: minutes(-65), expiresAt: minutes(-5), revokedAt: new Date(minutes(-5).getTime() + 7_000), verifiedRevokedAt: new Date(minutes(-5).getTime() + 7_000), revokeReason: 'expired' });
    const unverified = await grant('frank', { grantedAt: minutes(-40), expiresAt: minutes(-30), revokedAt: minutes(-30), revokeReason: 'ended early by the requester' });
    await grant('gina', { grantedAt: minutes(-3000), expiresAt: minutes(-2000), revokedAt: minutes(-2000), verifiedRevokedAt: minutes(-2000) });
    await grant('hana', { grantedAt: minutes(-1), expiresAt: minutes(59) });

    const result = await runLatch(['access', '--ended', '24h'], { DATABASE_URL: testDb.url });
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines).toHaveLength(5);
    expect(lines[0]).toMatch(/^verified gone {7}erin \(U0HOLDER\): read on prod-db \(postgres\); ended \(expired\), verified gone \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC, 7s after its scheduled end \[grant /);
    expect(lines[0]).toContain(verified.id);
    expect(lines[1]).toMatch(/^ended, unverified {3}frank \(U0HOLDER\): read on prod-db \(postgres\); ended \(ended early by the requester\) .* UTC; not verified gone: /);
    expect(lines[1]).toContain(unverified.id);
    // gina ended before the window: not listed.
    expect(lines[2]).toBe('2 ended in the last 1d: 1 verified gone, 1 not verified');
    expect(lines[3]).toMatch(/^active {14}hana /);
    expect(lines[4]).toBe('1 active, 0 being granted, 0 revocation(s) overdue');

    const none = await runLatch(['access', '--ended', '1m'], { DATABASE_URL: testDb.url });
    expect(none.stdout.split('\n')[0]).toBe('no access ended in the last 1m');
  });

  it('refuses a window that is not a duration, and --ended on another command', async () => {
    const bad = await runLatch(['access', '--ended', 'yesterday'], { DATABASE_URL: testDb.url });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('--ended: "yesterday" is not a duration');
    const elsewhere = await runLatch(['migrate', '--ended', '1h'], { DATABASE_URL: testDb.url });
    expect(elsewhere.code).not.toBe(0);
    expect(elsewhere.stderr).toContain('--ended only applies to `latch access`');
    const request = await runLatch(['request', 'prod-db', 'read', '1h', '--reason', 'x', '--ended', '1h'], { DATABASE_URL: testDb.url });
    expect(request.stderr).toContain('--ended only applies to `latch access`');
  });
});
