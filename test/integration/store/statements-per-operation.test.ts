import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccessContext } from '../../../src/services/access-context.ts';
import { grantAccess } from '../../../src/services/grant-access.ts';
import { revokeGrant } from '../../../src/services/revoke-grant.ts';
import { APPROVE } from '../../../src/slack/blocks/ids.ts';
import { PostgresAccessLocks } from '../../../src/store/access-lock.ts';
import { LatchHarness } from '../../helpers/latch-harness.ts';
import { MemoryProvider } from '../../helpers/memory-provider.ts';
import { testPolicy } from '../../helpers/test-policy.ts';

/**
 * What each operation costs PostgreSQL, counted on the wire between Latch and a real PostgreSQL:
 * every statement is a round trip, and round trips are what a busy `latch web` spends its CPU and
 * its pool's connections on (issue 19 measured 17 for a slash command, 24 for an Approve click,
 * 25 for a grant, 18 for a revocation). Each figure below is a ceiling: a change that adds a round
 * trip to an operation fails here; one that removes some should lower its ceiling.
 *
 * Counted from the Slack request (or the job's use case) to the last message rebuilt, the access
 * locks' own connection included. The audit append is 1 statement of these, the last before
 * COMMIT, with any signed Slack request kept as decision evidence (latch_append_audit_events), or
 * rides on that last statement (a command's insert: rowsWithRecordedAuditEvents). A BEGIN sent with
 * the transaction's first statement (an opening statement, store/opening-statement.ts) is 1.
 * Statements pipelined in one write (store/pipelined-statements.ts) are one round trip.
 * Keeping messages up to date (services/messages-shown.ts) costs a rewrite 1 statement (recorded
 * as shown) and a new request's messages 1 (has the request changed since they were built?).
 */
const CEILINGS = {
  /**
   * `/request-access prod-db read 2h …`: the request and its audit event, its approval message and DM located, checked still current.
   * The transaction is 4 statements in 2 round trips (issue 19: it was 6 in 6): BEGIN with the requester's lock and, pipelined
   * behind them, the history risk flags are judged against (store/risk-history.ts); the insert with its audit event (one
   * statement) and, pipelined behind it, COMMIT (store/pipelined-statements.ts).
   */
  command: { statements: 8, roundTrips: 6 },
  /**
   * Approve (one approval needed): the request and its votes read, then the vote, the decision and
   * their audit events written in one statement if the request is still as read
   * (store/decision-write.ts); the messages rebuilt and recorded as shown. As a transaction that
   * locked the row first it cost 5 more (9).
   */
  click: 4,
  /**
   * The grant job: the request read, the access lock taken, the attempt counted, the provider
   * called, the grant and its audit event recorded in one statement, the lock let go, the messages
   * rebuilt and recorded as shown. As a transaction the grant's record cost 3 more (10).
   */
  grant: 7,
  /**
   * The revocation job: the grant read, the access lock taken, the grant and any covering one read
   * under it, the revocation recorded in one statement (the grant closed, the request ended and the
   * audit event appended together), the lock let go, the messages rebuilt and recorded as shown.
   * Issue 19: a revocation holds a worker slot until it is written, so its round trips bound the
   * revocations a second a worker can make; writing it as a transaction cost 4 more (11).
   */
  revocation: 7,
  /** Rebuilding a request's messages: everything they show, read once; then recorded as shown. */
  messages: 2,
};

const REQUESTER = 'U0REQUESTER';
const APPROVER = 'U0APPROVER1';

let h: LatchHarness;
let locks: PostgresAccessLocks;
let ctx: AccessContext;
const provider = new MemoryProvider();

beforeAll(async () => {
  h = await LatchHarness.start(testPolicy(), { countStatements: true });
  // The jobs' access locks reach PostgreSQL through the same counting proxy as the rest of Latch.
  const proxied = new URL(h.databaseUrl);
  proxied.port = String(h.dbProxy!.port);
  locks = new PostgresAccessLocks({ databaseUrl: proxied.toString(), poolSize: 2 });
  ctx = { ...h.latch.services, providerFor: () => provider, locks };
});
afterAll(async () => {
  await locks.close();
  await h.close();
});

/** Runs `work` and gives back the statements it sent, listed in the failure message when over its ceiling. */
async function counted(work: () => Promise<unknown>): Promise<{ statements: number; roundTrips: number; sql: string }> {
  const log = h.statements!;
  log.reset();
  await work();
  return { statements: log.statements.length, roundTrips: log.roundTrips, sql: log.statements.map((sql) => sql.replace(/\s+/g, ' ').trim().slice(0, 140)).join('\n') };
}

function expectAtMost(what: keyof typeof CEILINGS, cost: { statements: number; roundTrips: number; sql: string }): void {
  // One figure: as many round trips as statements at most; two: statements pipelined in one write count one round trip.
  const ceiling: number | { statements: number; roundTrips: number } = CEILINGS[what];
  const { statements, roundTrips } = typeof ceiling === 'number' ? { statements: ceiling, roundTrips: ceiling } : ceiling;
  expect(cost.statements, `${what}: ${cost.statements} statements (ceiling ${statements}):\n${cost.sql}`).toBeLessThanOrEqual(statements);
  expect(cost.roundTrips, `${what}: ${cost.roundTrips} round trips (ceiling ${roundTrips})`).toBeLessThanOrEqual(roundTrips);
}

describe('statements per operation, counted on a real PostgreSQL', () => {
  it('a slash command, an Approve click, a grant and a revocation each stay within their round trips', async () => {
    // Slack and the pool warmed up: what is counted is the operation itself.
    await h.command(REQUESTER, 'prod-db read 2h warming up');
    await h.latch.listenerWork.idle();

    const command = await counted(async () => {
      expect((await h.command(REQUESTER, 'prod-db read 2h investigating INC-42')).status).toBe(200);
      await h.latch.listenerWork.idle();
    });
    const request = await h.db.accessRequest.findFirstOrThrow({ where: { reason: 'investigating INC-42' } });
    expect(request).toMatchObject({ state: 'pending', approvalMessageTs: expect.any(String), requesterMessageTs: expect.any(String) });
    expectAtMost('command', command);

    const messages = await counted(() => h.latch.notifier.publish({ type: 'vote.recorded', requestId: request.id }));
    expectAtMost('messages', messages);

    const click = await counted(async () => {
      expect((await h.click(APPROVER, APPROVE, request.id)).status).toBe(200);
      await h.latch.listenerWork.idle();
    });
    expect(await h.db.accessRequest.findUniqueOrThrow({ where: { id: request.id } })).toMatchObject({ state: 'approved' });
    expect(h.granted).toEqual([request.id]);
    expectAtMost('click', click);

    let grantId = '';
    const grant = await counted(async () => {
      const result = await grantAccess(ctx, { requestId: request.id, finalAttempt: false });
      expect(result.outcome).toBe('granted');
      grantId = (result as { grantId: string }).grantId;
    });
    expect(provider.holds(request.principal!, 'read')).toBe(true);
    expectAtMost('grant', grant);

    h.clock.advance(3 * 3600);
    const revocation = await counted(async () => expect((await revokeGrant(ctx, grantId)).outcome).toBe('revoked'));
    expect(provider.holds(request.principal!, 'read')).toBe(false);
    expect(await h.db.accessRequest.findUniqueOrThrow({ where: { id: request.id } })).toMatchObject({ state: 'revoked' });
    expectAtMost('revocation', revocation);

    const actions = (await h.db.auditEvent.findMany({ where: { requestId: request.id }, orderBy: { seq: 'asc' } })).map((event) => event.action);
    expect(actions).toEqual(['request.created', 'approval.recorded', 'request.approved', 'grant.granted', 'grant.revoked']);
  });
});
