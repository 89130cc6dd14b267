import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { isLapsedCliLogin, LAPSED_LOGIN_KEPT_SECONDS, LOGIN_PENDING_SECONDS } from '../../../src/domain/cli-login.ts';
import { sweepLapsedLoginsJob } from '../../../src/jobs/definitions/sweep-lapsed-logins.ts';
import { JobQueues } from '../../../src/jobs/job-queues.ts';
import { runJobs } from '../../../src/jobs/job-runner.ts';
import { authenticateApiCaller } from '../../../src/services/authenticate-api-caller.ts';
import { collectCliLoginToken, decideCliLogin, endCliLogin, startCliLogin } from '../../../src/services/cli-logins.ts';
import { sweepLapsedLogins } from '../../../src/services/sweep-lapsed-logins.ts';
import { createDatabase, type Database } from '../../../src/store/database.ts';
import { grantAppRole } from '../../../src/store/app-role.ts';
import { uuidV7 } from '../../../src/store/uuid-v7.ts';
import { TestRoles } from '../../helpers/database-roles.ts';
import { testJobContext } from '../../helpers/job-context.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/test-database.ts';
import { testPolicy } from '../../helpers/test-policy.ts';
import { testServiceContext } from '../../helpers/test-services.ts';

/**
 * `POST /logins` needs no token, so the rows of `latch login`s nothing can use any more are
 * deleted a day on, by a worker's sweep: against a real PostgreSQL, with logins of every kind made
 * through the use cases under a clock the test moves, and tokens checked as the API checks them.
 */

let testDb: TestDatabase;
let db: Database;
const roles = new TestRoles();

beforeAll(async () => {
  testDb = await createTestDatabase();
  db = createDatabase({ databaseUrl: testDb.url, poolSize: 4 });
});
afterAll(async () => {
  await db.$disconnect();
  await testDb.drop();
  // Roles are cluster-wide; the database holding their privileges is gone first.
  await roles.dropAll(inject('adminDatabaseUrl'));
});
beforeEach(async () => {
  await db.cliLogin.deleteMany();
});

const HOUR = 3600;
const DAY = LAPSED_LOGIN_KEPT_SECONDS;
const ALICE = 'U0ALICE';
/** The audit trail is append-only: each test reads the sweep events after its own start. */
const sweptEvents = async (afterSeq: bigint) =>
  (await db.auditEvent.findMany({ where: { action: 'login.swept', seq: { gt: afterSeq } }, orderBy: { seq: 'asc' } })).map((event) => ({ actor: event.actor, data: event.data }));
const lastSeq = async () => (await db.auditEvent.findFirst({ orderBy: { seq: 'desc' }, select: { seq: true } }))?.seq ?? 0n;

function setup() {
  const { ctx, clock } = testServiceContext(db, testPolicy());
  let n = 0;
  const started = async () => {
    const result = await startCliLogin({ db, clock }, { clientAddress: `198.51.100.${++n}`, clientName: `host-${n}`, maxWaiting: 1_000 });
    if (!result.ok) throw new Error('refused');
    return result.login;
  };
  const answered = async (confirm: boolean) => {
    const login = await started();
    const decided = await decideCliLogin(ctx, { loginId: login.loginId, userCode: login.userCode, slackUserId: ALICE, confirm });
    if (!decided.ok) throw new Error(decided.message);
    return login;
  };
  /** A login confirmed and its token collected now: the token, as the terminal keeps it. */
  const collected = async () => {
    const login = await answered(true);
    const result = await collectCliLoginToken({ db, clock }, { deviceCode: login.deviceCode });
    if (!result.ok) throw new Error(result.message);
    return { loginId: login.loginId, token: result.token };
  };
  const authenticate = (token: string) => authenticateApiCaller(ctx, `Bearer ${token}`);
  return { ctx, clock, started, answered, collected, authenticate };
}

describe('the sweep of lapsed logins', () => {
  it('deletes the logins nothing could use for a day, keeps the rest, and keeps every live token working', async () => {
    const { ctx, clock, started, answered, collected, authenticate } = setup();
    const startedAt = clock.now().getTime();
    // Three days before the sweep.
    const lapsedLongAgo = await started();
    const refusedLongAgo = await answered(false);
    const confirmedNeverCollected = await answered(true);
    const expiredLongAgo = await collected();
    const revokedLongAgo = await collected();
    expect(await endCliLogin({ db, clock }, { loginId: revokedLongAgo.loginId, actor: ALICE })).toBe(true);
    // Thirty hours before: its wait lapsed over a day before the sweep, its token 22 hours before.
    clock.advance(3 * DAY - 30 * HOUR);
    const expiredToday = await collected();
    // Seventy minutes before: its wait lapsed an hour before the sweep.
    clock.advance(30 * HOUR - 70 * 60);
    const lapsedJustNow = await started();
    // Half an hour before: tokens live for hours yet, one of them logged out.
    clock.advance(40 * 60);
    const live = await collected();
    const revokedLive = await collected();
    expect(await endCliLogin({ db, clock }, { loginId: revokedLive.loginId, actor: ALICE })).toBe(true);
    clock.advance(30 * 60);
    const waiting = await started();
    expect(clock.now().getTime() - startedAt).toBe(3 * DAY * 1000);

    const before = await db.cliLogin.findMany();
    const since = await lastSeq();
    expect(await sweepLapsedLogins(ctx)).toBe(5);

    const kept = new Set((await db.cliLogin.findMany({ select: { id: true } })).map((row) => row.id));
    const idOf = (login: { loginId: string }) => login.loginId;
    expect([...kept].sort()).toEqual([expiredToday, lapsedJustNow, live, revokedLive, waiting].map(idOf).sort());
    for (const gone of [lapsedLongAgo, refusedLongAgo, confirmedNeverCollected, expiredLongAgo, revokedLongAgo]) expect(kept.has(idOf(gone))).toBe(false);
    // The SQL deletes exactly what the domain's rule says may go.
    for (const row of before) expect(kept.has(row.id), row.id).toBe(!isLapsedCliLogin(row, clock.now()));

    expect(await sweptEvents(since)).toEqual([{ actor: 'latch', data: { count: 5, lapsedBefore: new Date(clock.now().getTime() - DAY * 1000).toISOString() } }]);
    // What each swept login did is still in the audit trail.
    const startedIds = (await db.auditEvent.findMany({ where: { action: 'login.started' } })).map((event) => (event.data as { loginId: string }).loginId);
    expect(startedIds).toEqual(expect.arrayContaining([lapsedLongAgo, refusedLongAgo, expiredLongAgo, revokedLongAgo].map(idOf)));

    // The live token acts as its person; the logged-out one stays refused, deleted or not.
    expect(await authenticate(live.token)).toMatchObject({ ok: true, kind: 'person', requesterId: ALICE, tokenId: live.loginId });
    expect(await authenticate(revokedLive.token)).toMatchObject({ ok: false, status: 401, rejection: 'revoked' });
    expect(await authenticate(revokedLongAgo.token)).toMatchObject({ ok: false, status: 401, rejection: 'invalid' });
    expect(await authenticate(expiredLongAgo.token)).toMatchObject({ ok: false, status: 401, rejection: 'invalid' });
    expect(await authenticate(expiredToday.token)).toMatchObject({ ok: false, status: 401, rejection: 'expired' });
    // A swept login is not one a terminal can collect or a person can confirm any more either.
    expect(await collectCliLoginToken({ db, clock }, { deviceCode: lapsedLongAgo.deviceCode })).toMatchObject({ ok: false, error: 'invalid_grant' });
    expect(await endCliLogin({ db, clock }, { loginId: revokedLongAgo.loginId, actor: ALICE })).toBe(false);

    // Nothing more to sweep: no change, no event.
    expect(await sweepLapsedLogins(ctx)).toBe(0);
    expect(await db.cliLogin.count()).toBe(5);
    expect(await sweptEvents(since)).toHaveLength(1);
  });

  it('takes a backlog in batches of a thousand, each batch with its own event', async () => {
    const { ctx, clock } = setup();
    const now = clock.now().getTime();
    const longAgo = now - 2 * DAY * 1000;
    await db.cliLogin.createMany({
      data: Array.from({ length: 2_500 }, (_, i) => ({
        id: uuidV7(longAgo + i),
        deviceSecretHash: randomBytes(32).toString('hex'),
        userCode: 'BCDFGHJK',
        clientAddress: '203.0.113.9',
        clientName: 'flood',
        createdAt: new Date(longAgo + i),
        expiresAt: new Date(longAgo + i + LOGIN_PENDING_SECONDS * 1000),
      })),
    });
    const since = await lastSeq();
    expect(await sweepLapsedLogins(ctx)).toBe(2_500);
    expect(await db.cliLogin.count()).toBe(0);
    expect((await sweptEvents(since)).map((event) => (event.data as { count: number }).count)).toEqual([1_000, 1_000, 500]);
  });

  it('runs on its schedule in a worker, as the role Latch runs as (prisma/app-role.sql), not the tables\' owner', async () => {
    const { clock, started } = setup();
    await started();
    clock.advance(2 * DAY);
    const role = await roles.create(testDb.url);
    await grantAppRole(testDb.url, role);
    const asApp = new URL(testDb.url);
    asApp.username = role;
    const appDb = createDatabase({ databaseUrl: asApp.toString(), poolSize: 2 });
    const logger = testServiceContext(db, testPolicy()).ctx.logger;
    const queues = new JobQueues({ redisUrl: inject('redisUrl'), prefix: `sweep-${randomBytes(4).toString('hex')}`, logger, settings: { loginSweepEveryMs: 150 } });
    const since = await lastSeq();
    const jobs = await runJobs({ queues, context: testJobContext({ logger, access: { db: appDb, clock, logger } }), definitions: [sweepLapsedLoginsJob] });
    try {
      const deadline = Date.now() + 10_000;
      while ((await sweptEvents(since)).length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(await sweptEvents(since)).toEqual([{ actor: 'latch', data: { count: 1, lapsedBefore: new Date(clock.now().getTime() - DAY * 1000).toISOString() } }]);
      expect(await db.cliLogin.count()).toBe(0);
    } finally {
      await jobs.stop();
      await queues.close();
      await appDb.$disconnect();
    }
  });
});
