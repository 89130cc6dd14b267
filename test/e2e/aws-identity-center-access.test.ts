import { afterAll, beforeAll, describe, it } from 'vitest';
import { FakeAwsIdentityCenter } from '../helpers/fake-aws-identity-center.ts';
import { waitForValue } from '../helpers/wait-for-value.ts';
import { startE2eLatch, type E2eLatch } from '../helpers/e2e-latch.ts';
import type { Database } from '../../src/store/database.ts';
import type { FakeSlack } from '../../tools/sandbox/fake-slack.ts';
import type { SlackSender } from '../helpers/slack-sender.ts';

/**
 * Latch as an operator runs it against AWS IAM Identity Center: a `latch start` process (the real
 * Bolt app over HTTP, the real BullMQ queues, the aws-identity-center provider with the AWS SDK)
 * creates the account assignment when a Slack approval arrives and deletes it at expiry, and
 * records the revocation verified only once the assignment is really gone. Slack and AWS are
 * faked on loopback (no AWS emulator installs here: test/helpers/fake-aws-identity-center.ts).
 * Started through the test entry, so access lasts seconds.
 */

const APPROVER = 'U0E2EAPPROVER';
const APPROVALS = 'C0E2EAPPROVALS';
const SECURITY = 'C0E2ESECURITY';
const ACCOUNT = '111122223333';
/** Requesters, each with their identity store user. */
const ADA = { slackId: 'U0E2EADA', userName: 'ada@example.com' };
const BEN = { slackId: 'U0E2EBEN', userName: 'ben@example.com' };
const GRANT_SECONDS = 6;

let e2e: E2eLatch;
let slack: FakeSlack;
let db: Database;
let sender: SlackSender;
let aws: FakeAwsIdentityCenter;
let permissionSetArn: string;
const userIds = new Map<string, string>();

beforeAll(async () => {
  aws = await FakeAwsIdentityCenter.start();
  aws.addAccount(ACCOUNT);
  permissionSetArn = aws.addPermissionSet('readonly', 'PT1H');
  for (const person of [ADA, BEN]) userIds.set(person.slackId, aws.addUser(person.userName));

  e2e = await startE2eLatch({
    name: 'aws',
    policyYaml: `
security:
  channel: ${SECURITY}
resources:
  - id: aws-prod
    name: AWS production
    provider:
      type: aws-identity-center
      settings:
        region: eu-west-1
        instanceArn: ${aws.instanceArn}
        identityStoreId: ${aws.identityStoreId}
        endpoint: ${aws.url}
        roles:
          read: { accountId: "${ACCOUNT}", permissionSetArn: ${permissionSetArn} }
    identity:
      from: map-only
      map:
        ${ADA.slackId}: ${ADA.userName}
        ${BEN.slackId}: ${BEN.userName}
    roles: [read]
    maxDuration: 1h
    approvers: { users: [${APPROVER}] }
    approvalChannel: ${APPROVALS}
`,
    env: {
      // The grantor's key pair, as an operator would set it; the fake checks the SigV4 header's shape.
      AWS_ACCESS_KEY_ID: 'AKIAE2EFAKEKEY000001',
      AWS_SECRET_ACCESS_KEY: 'e2e-fake-secret-access-key',
    },
  });
  ({ slack, db, sender } = e2e);
}, 180_000);

afterAll(async () => {
  await e2e?.close();
  await aws?.close();
});

const stateOf = async (id: string) => (await db.accessRequest.findUniqueOrThrow({ where: { id } })).state;
const grantOf = (requestId: string) => db.grant.findUniqueOrThrow({ where: { requestId } });
const assigned = (person: { slackId: string }) => aws.hasAssignment(ACCOUNT, permissionSetArn, userIds.get(person.slackId)!);

/** `/request-access` signed as Slack signs it, then the approver's click: returns the request once active. */
async function askAndApprove(person: { slackId: string }, duration: string) {
  const response = await sender.command(person.slackId, `aws-prod read ${duration} end-to-end on AWS`);
  if (response.status !== 200) throw new Error(`the command was answered ${response.status}`);
  const request = await waitForValue(() => db.accessRequest.findFirst({ where: { requesterSlackId: person.slackId, approvalMessageTs: { not: null } } }));
  if (assigned(person)) throw new Error('assigned before anyone approved');
  await sender.click(APPROVER, 'latch_approve', request.id, APPROVALS);
  await waitForValue(async () => ((await stateOf(request.id)) === 'active' ? true : undefined));
  return request;
}

/** The Slack date token of `at` (whole seconds), as Latch writes times in messages. */
const slackTime = (at: Date) => `<!date^${Math.floor(at.getTime() / 1000)}^`;

/** A message Latch posted to (or rewrote in) `person`'s DM holding `text`. */
function dmHolding(person: { slackId: string }, text: string) {
  const dm = (channel: unknown) => channel === person.slackId || channel === `D0${person.slackId}`;
  return slack.waitForCall('chat.postMessage', (call) => dm(call.args.channel) && JSON.stringify(call.args.blocks).includes(text), 20_000);
}

describe.concurrent('an AWS IAM Identity Center account assignment, granted and revoked by latch start', () => {
  it('creates the assignment on approval, deletes it at expiry and records it verified gone', { timeout: 180_000 }, async ({ expect }) => {
    const request = await askAndApprove(ADA, `${GRANT_SECONDS}s`);
    expect(assigned(ADA)).toBe(true);
    // The "Access granted" DM says until when sessions already started keep working: the grant's
    // end plus the permission set's session duration (PT1H), which Latch asked of AWS.
    const granted = await grantOf(request.id);
    expect(granted.effectiveEndLagSeconds).toBe(3600);
    const effectiveEnd = new Date(granted.expiresAt!.getTime() + 3600_000);
    await dmHolding(ADA, `Sessions already started can keep working until ${slackTime(effectiveEnd)}`);
    await dmHolding(ADA, `Access granted until ${slackTime(granted.expiresAt!)}`);
    // And the approval message's status, for the approvers.
    await slack.waitForCall('chat.update', (call) => call.args.channel === APPROVALS && JSON.stringify(call.args.blocks).includes(`sessions already started can work until ${slackTime(effectiveEnd)}`), 20_000);
    expect(aws.calls).toContain('SWBExternalService.DescribePermissionSet');

    await waitForValue(async () => ((await stateOf(request.id)) === 'revoked' ? true : undefined), (GRANT_SECONDS + 60) * 1000);
    expect(assigned(ADA)).toBe(false);
    const grant = await grantOf(request.id);
    expect(grant.verifiedRevokedAt).not.toBeNull();
    expect(grant.verifiedRevokedAt!.getTime()).toBeGreaterThanOrEqual(grant.expiresAt!.getTime());
    expect(grant.verifiedRevokedAt!.getTime()).toBe(grant.revokedAt!.getTime());
    const revoked = await db.auditEvent.findFirstOrThrow({ where: { requestId: request.id, action: 'grant.revoked' } });
    expect(revoked.data).toMatchObject({ provider: 'aws-identity-center', verified: true });
    // Told again once it ended: sessions started before may run an hour past the revocation.
    await dmHolding(ADA, `Sessions started before it ended can keep working until ${slackTime(new Date(grant.revokedAt!.getTime() + 3600_000))}`);
    // Nothing of the fake's protocol was refused: every call the SDK made was one AWS serves.
    expect(aws.calls.filter((target) => !/^(SWBExternalService|AWSIdentityStore)\./.test(target))).toEqual([]);
  });

  it('treats a deletion AWS reports done while the assignment remains as a failed revocation: retried, overdue, never verified', { timeout: 240_000 }, async ({ expect }) => {
    aws.keptPrincipals.add(userIds.get(BEN.slackId)!);
    const request = await askAndApprove(BEN, `${GRANT_SECONDS}s`);
    expect(assigned(BEN)).toBe(true);

    // AWS said SUCCEEDED; the listing still shows the assignment, so the revocation failed and waits for a retry.
    const failed = await waitForValue(async () => {
      const grant = await grantOf(request.id);
      return grant.revokeAttempts >= 1 && grant.lastError !== null ? grant : undefined;
    }, (GRANT_SECONDS + 60) * 1000);
    expect(failed.revokedAt).toBeNull();
    expect(failed.verifiedRevokedAt).toBeNull();
    expect(await stateOf(request.id)).toBe('active');
    expect(assigned(BEN)).toBe(true);

    // Still there after the quick retries: overdue, and the security channel is told.
    await waitForValue(async () => ((await grantOf(request.id)).overdueAlertedAt !== null ? true : undefined), 120_000);
    await slack.waitForCall('chat.postMessage', (call) => call.args.channel === SECURITY, 20_000);
    expect((await grantOf(request.id)).verifiedRevokedAt).toBeNull();
    expect(await stateOf(request.id)).toBe('active');
    const failures = await db.auditEvent.findMany({ where: { requestId: request.id, action: { in: ['grant.revoke_failed', 'grant.revocation_overdue'] } } });
    expect(failures.length).toBeGreaterThanOrEqual(2);

    // AWS deletes it for real on the next try: the slow retry removes it and records it verified.
    aws.keptPrincipals.delete(userIds.get(BEN.slackId)!);
    await waitForValue(async () => ((await stateOf(request.id)) === 'revoked' ? true : undefined), 120_000);
    expect(assigned(BEN)).toBe(false);
    const grant = await grantOf(request.id);
    expect(grant.verifiedRevokedAt).not.toBeNull();
    expect(grant.revokeAttempts).toBeGreaterThanOrEqual(failures.length + 1);
  });
});
