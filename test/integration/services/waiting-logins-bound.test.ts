import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LOGIN_PENDING_SECONDS } from '../../../src/domain/cli-login.ts';
import { collectCliLoginToken, decideCliLogin, startCliLogin, type StartedCliLogin } from '../../../src/services/cli-logins.ts';
import { createDatabase, type Database } from '../../../src/store/database.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/test-database.ts';
import { testPolicy } from '../../helpers/test-policy.ts';
import { testServiceContext } from '../../helpers/test-services.ts';

/**
 * `POST /logins` needs no token, so the logins waiting for a person are bounded in total: past the
 * bound a start writes nothing (no row, no audit event) until one lapses or a person answers one.
 * Against a real PostgreSQL, with a clock the test moves; two database clients stand for two
 * Latch processes starting logins at once.
 */

let testDb: TestDatabase;
let db: Database;
let otherProcess: Database;

beforeAll(async () => {
  testDb = await createTestDatabase();
  db = createDatabase({ databaseUrl: testDb.url, poolSize: 8 });
  otherProcess = createDatabase({ databaseUrl: testDb.url, poolSize: 8 });
});
afterAll(async () => {
  await db.$disconnect();
  await otherProcess.$disconnect();
  await testDb.drop();
});
beforeEach(async () => {
  await db.cliLogin.deleteMany();
});

const rows = () => db.cliLogin.count();
/** The audit trail is append-only: each test reads how many starts it added. */
const startedEvents = () => db.auditEvent.count({ where: { action: 'login.started' } });

function setup() {
  const { ctx, clock } = testServiceContext(db, testPolicy());
  let n = 0;
  const start = (maxWaiting: number, on: Database = db) => startCliLogin({ db: on, clock }, { clientAddress: `198.51.100.${++n}`, clientName: `host-${n}`, maxWaiting });
  const started = async (maxWaiting: number): Promise<StartedCliLogin> => {
    const result = await start(maxWaiting);
    if (!result.ok) throw new Error(`refused with ${result.waiting} waiting`);
    return result.login;
  };
  return { ctx, clock, start, started };
}

describe('the bound on logins waiting to be confirmed', () => {
  it('refuses the start past it, writing nothing, until a waiting login lapses', async () => {
    const { clock, start, started } = setup();
    const eventsBefore = await startedEvents();
    for (let i = 0; i < 3; i++) await started(3);

    const refused = await start(3);
    expect(refused).toEqual({ ok: false, waiting: 3, retryAfterSeconds: LOGIN_PENDING_SECONDS });
    expect(await rows()).toBe(3);
    expect(await startedEvents()).toBe(eventsBefore + 3);

    // Nearer the first one's expiry, the terminal is told to wait less; it is still refused.
    clock.advance(LOGIN_PENDING_SECONDS - 30);
    expect(await start(3)).toEqual({ ok: false, waiting: 3, retryAfterSeconds: 30 });
    expect(await rows()).toBe(3);

    // Lapsed unconfirmed: they wait for nobody, and a new start takes a place.
    clock.advance(30);
    expect((await start(3)).ok).toBe(true);
    expect(await rows()).toBe(4);
    expect(await startedEvents()).toBe(eventsBefore + 4);
  });

  it('frees a place when a person refuses a login, or confirms and collects one', async () => {
    const { ctx, start, started } = setup();
    const [first, second] = [await started(2), await started(2)];
    expect((await start(2)).ok).toBe(false);

    const refused = await decideCliLogin(ctx, { loginId: first.loginId, userCode: first.userCode, slackUserId: 'U0ALICE01', confirm: false });
    expect(refused).toMatchObject({ ok: true, confirmed: false });
    const third = await started(2);
    expect((await start(2)).ok).toBe(false);

    // Confirmed, it waits no longer for a person; collected, still not.
    expect(await decideCliLogin(ctx, { loginId: second.loginId, userCode: second.userCode, slackUserId: 'U0ALICE01', confirm: true })).toMatchObject({ ok: true, confirmed: true });
    expect((await collectCliLoginToken(ctx, { deviceCode: second.deviceCode })).ok).toBe(true);
    expect((await start(2)).ok).toBe(true);
    expect((await start(2)).ok).toBe(false);
    expect(third.loginId).not.toBe(first.loginId);
  });

  it('holds when two processes start many logins at once', async () => {
    const { start } = setup();
    const eventsBefore = await startedEvents();
    // 16 connections, so starts really run at once: without the lock, each would count 0–4 waiting and insert.
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => start(5, i % 2 === 0 ? db : otherProcess)));
    expect(results.filter((result) => result.ok)).toHaveLength(5);
    expect(results.filter((result) => !result.ok).every((result) => !result.ok && result.waiting === 5)).toBe(true);
    expect(await rows()).toBe(5);
    expect(await startedEvents()).toBe(eventsBefore + 5);
  });
});
