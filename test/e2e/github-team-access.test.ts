import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACTIVE_ACCESS_ACTIONS_BLOCK, APPROVE, END_ACCESS } from '../../src/slack/blocks/ids.ts';
import { FakeGithub } from '../helpers/fake-github.ts';
import { waitForValue } from '../helpers/wait-for-value.ts';
import { startE2eLatch, type E2eLatch } from '../helpers/e2e-latch.ts';
import type { Database } from '../../src/store/database.ts';
import type { FakeSlack } from '../../tools/sandbox/fake-slack.ts';
import type { SlackSender } from '../helpers/slack-sender.ts';

/**
 * Latch as an operator runs it against GitHub: a `latch start` process (the real Bolt app over
 * HTTP, the real BullMQ queues, the github-team provider with Octokit) adds the requester to the
 * team when a Slack approval arrives and removes them when they are done, and records the
 * revocation verified only once GitHub no longer shows the membership. Slack and GitHub are faked
 * on loopback; the fake GitHub holds every exchange to GitHub's OpenAPI description. Started
 * through the test entry, so access lasts seconds.
 */

const APPROVER = 'U0E2EAPPROVER';
const APPROVALS = 'C0E2EAPPROVALS';
const SECURITY = 'C0E2ESECURITY';
const TEAM = 'release-managers';
const ADA = { slackId: 'U0E2EADA', login: 'octo-ada' };
const BEN = { slackId: 'U0E2EBEN', login: 'octo-ben' };
const GRANT_SECONDS = 5;

let e2e: E2eLatch;
let slack: FakeSlack;
let db: Database;
let sender: SlackSender;
let github: FakeGithub;

beforeAll(async () => {
  github = await FakeGithub.start();
  github.addTeam(TEAM);
  for (const person of [ADA, BEN]) github.addUser(person.login, { inOrg: true });

  e2e = await startE2eLatch({
    name: 'github',
    policyYaml: `
security:
  channel: ${SECURITY}
resources:
  - id: release-managers
    name: Release managers
    provider:
      type: github-team
      settings:
        org: ${github.org}
        team: ${TEAM}
        tokenEnv: GITHUB_TEAMS_TOKEN
        apiUrl: ${github.apiUrl}
    identity:
      from: map-only
      map:
        ${ADA.slackId}: ${ADA.login}
        ${BEN.slackId}: ${BEN.login}
    roles: [member]
    maxDuration: 8h
    approvers: { users: [${APPROVER}] }
    approvalChannel: ${APPROVALS}
`,
    env: {
      GITHUB_TEAMS_TOKEN: github.token,
    },
  });
  ({ slack, db, sender } = e2e);
}, 180_000);

afterAll(async () => {
  await e2e?.close();
  await github?.close();
});

const stateOf = async (id: string) => (await db.accessRequest.findUniqueOrThrow({ where: { id } })).state;
const grantOf = (requestId: string) => db.grant.findUniqueOrThrow({ where: { requestId } });
/** Any membership GitHub shows, active or invited. */
const inTeam = (login: string) => github.teams.get(TEAM)!.members.has(login.toLowerCase());

/** `/request-access` signed as Slack signs it, then the approver's click: returns the request once active. */
async function askAndApprove(person: { slackId: string; login: string }, duration: string) {
  const response = await sender.command(person.slackId, `release-managers member ${duration} cutting the release`);
  expect(response.status).toBe(200);
  const request = await waitForValue(() => db.accessRequest.findFirst({ where: { requesterSlackId: person.slackId, approvalMessageTs: { not: null } } }));
  expect(inTeam(person.login)).toBe(false);
  expect((await sender.click(APPROVER, APPROVE, request.id, APPROVALS)).status).toBe(200);
  await waitForValue(async () => ((await stateOf(request.id)) === 'active' ? true : undefined));
  return request;
}

describe('a GitHub team membership, granted and revoked by latch start', () => {
  it('adds the login on approval, removes it when the holder presses "I\'m done" and records it verified gone', { timeout: 120_000 }, async () => {
    const request = await askAndApprove(ADA, '2h');
    expect(github.isActiveMember(TEAM, ADA.login)).toBe(true);

    expect((await sender.click(ADA.slackId, END_ACCESS, request.id, `D0${ADA.slackId}`, ACTIVE_ACCESS_ACTIONS_BLOCK)).status).toBe(200);
    await waitForValue(async () => ((await stateOf(request.id)) === 'revoked' ? true : undefined));
    expect(inTeam(ADA.login)).toBe(false);
    const grant = await grantOf(request.id);
    expect(grant.revokedBySlackId).toBe(ADA.slackId);
    expect(grant.verifiedRevokedAt).not.toBeNull();
    expect(grant.verifiedRevokedAt!.getTime()).toBe(grant.revokedAt!.getTime());
    expect(grant.verifiedRevokedAt!.getTime()).toBeLessThan(grant.grantedAt!.getTime() + 2 * 3600_000);
    const revoked = await db.auditEvent.findFirstOrThrow({ where: { requestId: request.id, action: 'grant.revoked' } });
    expect(revoked.data).toMatchObject({ provider: 'github-team', verified: true });
    // GitHub leaves no session running after a removal: nobody is told of one.
    expect(grant.effectiveEndLagSeconds).toBeNull();
    const toAda = slack.callsTo('chat.postMessage').filter((call) => call.args.channel === ADA.slackId || call.args.channel === `D0${ADA.slackId}`);
    expect(toAda.length).toBeGreaterThan(0);
    expect(JSON.stringify(toAda.map((call) => call.args.blocks))).not.toContain('Sessions');
    expect(github.violations).toEqual([]);
  });

  it('treats a removal GitHub answers 204 to while the membership remains as a failed revocation: retried, overdue, never verified', { timeout: 240_000 }, async () => {
    const request = await askAndApprove(BEN, `${GRANT_SECONDS}s`);
    github.ignoreRemovals = true;

    const failed = await waitForValue(async () => {
      const grant = await grantOf(request.id);
      return grant.revokeAttempts >= 1 && grant.lastError !== null ? grant : undefined;
    }, (GRANT_SECONDS + 60) * 1000);
    expect(failed.revokedAt).toBeNull();
    expect(failed.verifiedRevokedAt).toBeNull();
    expect(await stateOf(request.id)).toBe('active');
    expect(github.isActiveMember(TEAM, BEN.login)).toBe(true);

    // Still a member after the quick retries: overdue, and the security channel is told.
    await waitForValue(async () => ((await grantOf(request.id)).overdueAlertedAt !== null ? true : undefined), 120_000);
    await slack.waitForCall('chat.postMessage', (call) => call.args.channel === SECURITY, 20_000);
    expect((await grantOf(request.id)).verifiedRevokedAt).toBeNull();
    expect(await stateOf(request.id)).toBe('active');

    // GitHub removes it for real on the next try: the slow retry takes it out and records it verified.
    github.ignoreRemovals = false;
    await waitForValue(async () => ((await stateOf(request.id)) === 'revoked' ? true : undefined), 120_000);
    expect(inTeam(BEN.login)).toBe(false);
    const grant = await grantOf(request.id);
    expect(grant.verifiedRevokedAt).not.toBeNull();
    expect(grant.revokeAttempts).toBeGreaterThanOrEqual(6);
    expect(github.violations).toEqual([]);
  });
});
