import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { grantAppRole } from '../../../src/store/app-role.ts';
import { appendAuditEvent } from '../../../src/store/audit-log.ts';
import { createDatabase, type Database } from '../../../src/store/database.ts';
import { inTransaction } from '../../../src/store/transaction.ts';
import { APPROVE, END_ACCESS } from '../../../src/slack/blocks/ids.ts';
import { LatchHarness, SIGNING_SECRET } from '../../helpers/latch-harness.ts';
import { runLatch } from '../../helpers/latch-process.ts';
import { MemoryProvider } from '../../helpers/memory-provider.ts';
import { adminQuery } from '../../helpers/test-database.ts';
import { SECURITY_ADMIN, testPolicy, testResource } from '../../helpers/test-policy.ts';

/**
 * Issue 14, point 5: someone holding Latch's DATABASE_URL, with exactly the grants the README
 * recommends for the app's role (prisma/app-role.sql), tries to make history say what did not
 * happen. `latch audit verify` must see it: state rows that their events do not account for, and
 * people's decisions that no signed Slack request made.
 */
const REQUESTER = 'U0REQUESTER';
const APPROVER = 'U0APPROVER1';

let h: LatchHarness;
let attacker: Database;
const role = `latch_app_${randomBytes(4).toString('hex')}`;
const provider = new MemoryProvider();

beforeAll(async () => {
  h = await LatchHarness.start(testPolicy([testResource({ identity: { map: { [REQUESTER]: 'alice' }, from: 'map-only', template: '{email}' } })]), { provider });
  // The role Latch serves as, with exactly the grants the README points to (prisma/app-role.sql).
  await adminQuery(inject('adminDatabaseUrl'), `CREATE ROLE ${role} LOGIN PASSWORD 'attacker'`);
  await grantAppRole(h.databaseUrl, role);
  const url = new URL(h.databaseUrl);
  url.username = role;
  url.password = 'attacker';
  attacker = createDatabase({ databaseUrl: url.toString(), poolSize: 1 });
});

afterAll(async () => {
  await attacker?.$disconnect();
  await h?.close();
  // Roles are cluster-wide: the database holding its privileges is gone, so the role can go.
  await adminQuery(inject('adminDatabaseUrl'), `DROP ROLE IF EXISTS ${role}`);
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const stateOf = async (id: string) => (await h.db.accessRequest.findUniqueOrThrow({ where: { id } })).state;

function verify(...args: string[]) {
  return runLatch(['audit', 'verify', ...args], { DATABASE_URL: h.databaseUrl, SLACK_SIGNING_SECRET: SIGNING_SECRET });
}

/** A request asked for and approved in Slack, its access granted: every step a signed request. */
async function approvedAndActive(): Promise<string> {
  h.slack.reset();
  await h.command(REQUESTER, 'prod-db read 2h restoring the invoice table');
  await h.slack.waitForCall('chat.postMessage', (c) => c.args.channel === 'C0APPROVALS');
  const request = await h.db.accessRequest.findFirstOrThrow({ where: { requesterSlackId: REQUESTER }, orderBy: { createdAt: 'desc' } });
  await waitFor(async () => (await h.db.accessRequest.findUniqueOrThrow({ where: { id: request.id } })).approvalMessageTs !== null);
  expect((await h.click(APPROVER, APPROVE, request.id)).status).toBe(200);
  await waitFor(async () => (await stateOf(request.id)) === 'active');
  return request.id;
}

// Each check runs `latch audit verify` as a process of its own, several in some tests.
describe('latch audit verify against the app role of the README', { timeout: 120_000 }, () => {
  let requestId: string;

  it('passes a real decision made through the Bolt app over HTTP, its signed request checked', async () => {
    requestId = await approvedAndActive();
    const evidence = await h.db.decisionEvidence.count();
    // approval.recorded and request.approved each keep the signed click.
    expect(evidence).toBe(2);
    const verified = await verify();
    expect(verified.stderr).toBe('');
    expect(verified.code).toBe(0);
    expect(verified.stdout).toMatch(/^state: \d+ requests checked against their events, 0 mismatch\(es\)$/m);
    expect(verified.stdout).toMatch(/^decisions: 2 signed by Slack \(signatures verified\), 0 without valid evidence$/m);
  });

  it('reports a review by the security lead that nobody made, appended with a valid hash', async () => {
    const at = new Date();
    await inTransaction(attacker, async (tx) => {
      await tx.accessRequest.update({ where: { id: requestId }, data: { reviewedBySlackId: SECURITY_ADMIN, reviewedAt: at } });
      await appendAuditEvent(tx, { actor: SECURITY_ADMIN, action: 'request.reviewed', requestId, at, data: { breakGlass: true, reviewDueAt: null, late: false } });
    });
    const forged = await h.db.auditEvent.findFirstOrThrow({ orderBy: { seq: 'desc' } });
    const verified = await verify();
    expect(verified.stdout).toMatch(/^audit chain intact/);
    expect(verified.stderr).toContain(`event ${forged.seq} (request.reviewed by ${SECURITY_ADMIN}) has no evidence: no signed Slack request records it`);
    expect(verified.code).toBe(1);
  });

  it('reports a forged decision that claims to have come over Socket Mode, unless told Socket Mode was used', async () => {
    await inTransaction(attacker, (tx) =>
      appendAuditEvent(tx, { actor: SECURITY_ADMIN, action: 'grant.end_requested', requestId, at: new Date(), data: { grantId: null, reason: 'x' }, evidence: { transport: 'socket-mode' } }),
    );
    const verified = await verify();
    expect(verified.stdout).toMatch(/1 unsigned \(Socket Mode\)/);
    expect(verified.stderr).toContain('1 decision(s) carry no Slack signature (Socket Mode or seeded): pass --allow-unsigned if this Latch ran in Socket Mode');
    expect(verified.code).toBe(1);
  });

  it('reports a grant whose expiry was pushed out ten years', async () => {
    const grant = await h.db.grant.findUniqueOrThrow({ where: { requestId } });
    const later = new Date(grant.expiresAt!.getTime() + 10 * 365 * 24 * 3600 * 1000);
    expect(await attacker.$executeRaw`UPDATE grants SET expires_at = ${later} WHERE id = ${grant.id}::uuid`).toBe(1);
    const verified = await verify();
    expect(verified.stdout).toMatch(/^audit chain intact/);
    expect(verified.stderr).toContain(`grants ${grant.id}: expiresAt is ${later.toISOString()}, its audit events say ${grant.expiresAt!.toISOString()}`);
    expect(verified.code).toBe(1);
  });

  it('reports evidence whose body was edited, and the real evidence of another person reused', async () => {
    // The approver's real signed click, as Latch stored it.
    const approval = await h.db.auditEvent.findFirstOrThrow({ where: { requestId, action: 'approval.recorded' } });
    const real = await h.db.decisionEvidence.findUniqueOrThrow({ where: { seq: approval.seq } });
    const edited = Buffer.from(Buffer.from(real.rawBody).toString('utf8').replaceAll(APPROVER, SECURITY_ADMIN));
    const http = (rawBody: Uint8Array) => ({ transport: 'http' as const, rawBody, timestamp: real.slackTimestamp, signature: real.slackSignature });
    await inTransaction(attacker, async (tx) => [
      // The click, edited to be the security lead's: the signature no longer holds.
      await appendAuditEvent(tx, { actor: SECURITY_ADMIN, action: 'request.reviewed', requestId, at: new Date(), data: {}, evidence: http(edited) }),
      // The approver's click, unedited, behind the security lead's end of the access.
      await appendAuditEvent(tx, { actor: SECURITY_ADMIN, action: 'grant.end_requested', requestId, at: new Date(), data: { grantId: null }, evidence: http(real.rawBody) }),
      // The approver's real click on one request, behind an approval of another.
      await appendAuditEvent(tx, {
        actor: APPROVER,
        action: 'approval.recorded',
        requestId: (await tx.accessRequest.create({ data: { requesterSlackId: REQUESTER, resourceId: 'prod-db', role: 'read', durationSeconds: 60, reason: 'x' } })).id,
        at: new Date(),
        data: { decision: 'approve', revision: 1 },
        evidence: http(real.rawBody),
      }),
      // The approver's real click, copied as their approval of a later revision of the same request.
      await appendAuditEvent(tx, { actor: APPROVER, action: 'approval.recorded', requestId, at: new Date(), data: { decision: 'approve', revision: 2 }, evidence: http(real.rawBody) }),
    ]);
    // Appended in that order, last in the chain.
    const [editedEvent, reusedEvent, otherRequestEvent, copiedEvent] = (await h.db.auditEvent.findMany({ orderBy: { seq: 'desc' }, take: 4 })).reverse();
    const verified = await verify();
    expect(verified.stderr).toContain(`event ${editedEvent!.seq} (request.reviewed by ${SECURITY_ADMIN}) has evidence whose Slack signature does not verify`);
    expect(verified.stderr).toContain(`event ${reusedEvent!.seq} (grant.end_requested by ${SECURITY_ADMIN}) has evidence of another person (${APPROVER}) acting`);
    expect(verified.stderr).toContain(`event ${otherRequestEvent!.seq} (approval.recorded by ${APPROVER}) has evidence of an action on another request (${requestId})`);
    expect(verified.stderr).toContain(`event ${copiedEvent!.seq} (approval.recorded by ${APPROVER}) reuses the signed Slack request of event ${approval.seq}, made at another time`);
    expect(verified.code).toBe(1);
  });

  it('can neither rewrite nor delete evidence, nor move where evidence starts', async () => {
    await expect(attacker.$executeRawUnsafe(`UPDATE decision_evidence SET slack_signature = 'x'`)).rejects.toThrow(/permission denied|append-only/);
    await expect(attacker.$executeRawUnsafe('DELETE FROM decision_evidence')).rejects.toThrow(/permission denied|append-only/);
    await expect(attacker.$executeRawUnsafe('INSERT INTO audit_evidence_start (after_seq) VALUES (1000000)')).rejects.toThrow(/permission denied|append-only/);
    await expect(attacker.$executeRawUnsafe('DELETE FROM audit_events')).rejects.toThrow(/permission denied|append-only/);
  });

  it('checks the chain against a digest anchor: a rewritten or cut-off chain does not match', async () => {
    const head = await h.db.auditEvent.findFirstOrThrow({ orderBy: { seq: 'desc' } });
    const matching = await verify('--anchor', `${head.seq}:${head.hash}`, '--allow-unsigned');
    expect(matching.stdout).toContain(`anchor event ${head.seq} matches`);
    const beyond = await verify('--anchor', `${head.seq + 5n}:${head.hash}`);
    expect(beyond.stderr).toContain(`the chain ends at event ${head.seq}, before the anchor event ${head.seq + 5n}: events were cut off its end`);
    expect(beyond.code).toBe(1);
    const other = await verify('--anchor', `${head.seq}:${'a'.repeat(64)}`);
    expect(other.stderr).toContain(`event ${head.seq} is not the anchored one`);
    expect(other.code).toBe(1);
    // The chain itself is intact: the forgeries above are appended with valid hashes.
    const chainOnly = await verify('--chain-only');
    expect(chainOnly).toMatchObject({ code: 0, stdout: expect.stringMatching(/^audit chain intact: \d+ events verified; head: event \d+, hash [0-9a-f]{64}\n$/) });
  });

  it('passes once more after "I\'m done" in Slack, signed too, on a fresh request', async () => {
    // Not affected by the forgeries above: those stay reported, this decision is counted signed.
    const id = await approvedAndActive();
    expect((await h.click(REQUESTER, END_ACCESS, id, 'D0REQUESTER', 'latch_active_access_actions')).status).toBe(200);
    await waitFor(async () => (await stateOf(id)) === 'revoked');
    const endEvent = await h.db.auditEvent.findFirstOrThrow({ where: { requestId: id, action: 'grant.end_requested' } });
    expect(await h.db.decisionEvidence.findUnique({ where: { seq: endEvent.seq } })).not.toBeNull();
    const verified = await verify();
    expect(verified.stderr).not.toContain(`(grant.end_requested by ${REQUESTER})`);
    expect(verified.stderr).not.toContain(id);
  });
});
