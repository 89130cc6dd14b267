import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grantAccessJob } from '../../../src/jobs/definitions/grant-access.ts';
import { notifyPeopleJob } from '../../../src/jobs/definitions/notify-people.ts';
import { revokeGrantJob } from '../../../src/jobs/definitions/revoke-grant.ts';
import { APPROVE, END_ACCESS } from '../../../src/slack/blocks/ids.ts';
import { Workspace } from '../../../tools/sandbox/workspace.ts';
import { LatchHarness } from '../../helpers/latch-harness.ts';
import { MemoryProvider } from '../../helpers/memory-provider.ts';
import { testPolicy } from '../../helpers/test-policy.ts';
import { waitForValue } from '../../helpers/wait-for-value.ts';

/**
 * Issue 19: a worker runs a bounded number of revocations at once (4 here), so a revocation whose
 * slot waited for Slack to take its notices (the requester's DM; a 429 is waited out, for minutes)
 * held back every revocation after it. With the notify job run by the worker, as `latch worker`
 * runs it, a revocation's notices are queued to it: access keeps being taken away while Slack
 * does not answer, and the notices follow once it does.
 */
const APPROVER = 'U0APPROVER1';
const REQUESTERS = ['U0HOLDER1', 'U0HOLDER2', 'U0HOLDER3', 'U0HOLDER4', 'U0HOLDER5', 'U0HOLDER6'];

let h: LatchHarness;
const provider = new MemoryProvider();

beforeAll(async () => {
  h = await LatchHarness.start(testPolicy(), { provider, workerJobs: [grantAccessJob, revokeGrantJob, notifyPeopleJob] });
});
afterAll(() => h.close());

const stateOf = async (id: string) => (await h.db.accessRequest.findUniqueOrThrow({ where: { id } })).state;
const endedDms = () => h.slack.callsTo('chat.postMessage').filter((call) => REQUESTERS.includes(String(call.args.channel)) && JSON.stringify(call.args).includes('Your access has ended'));
/** true, or null so that waitForValue asks again. */
const until = (check: () => Promise<boolean> | boolean) => async () => ((await check()) ? true : null);

describe('a revocation’s Slack notices', () => {
  it('do not hold its worker slot: every access is taken away while Slack does not answer, and the notices follow', async () => {
    const ids: string[] = [];
    for (const requester of REQUESTERS) {
      expect((await h.command(requester, 'prod-db read 2h incident 77')).status).toBe(200);
      const request = await waitForValue(() => h.db.accessRequest.findFirst({ where: { requesterSlackId: requester, approvalMessageTs: { not: null } } }));
      expect((await h.click(APPROVER, APPROVE, request.id)).status).toBe(200);
      await waitForValue(until(async () => (await stateOf(request.id)) === 'active'));
      ids.push(request.id);
    }
    expect(REQUESTERS.every((requester) => provider.holds(requester, 'read'))).toBe(true);

    // From here Slack takes no message: every post waits, as under a rate limit.
    const release = h.slack.hold('chat.postMessage');
    for (const [index, id] of ids.entries()) {
      const requester = REQUESTERS[index]!;
      expect((await h.click(requester, END_ACCESS, id, Workspace.dmChannelOf(requester), 'latch_active_access_actions')).status).toBe(200);
    }
    // Six revocations through four slots: had a slot waited for its DM, two would never run.
    for (const id of ids) await waitForValue(until(async () => (await stateOf(id)) === 'revoked'));
    expect(REQUESTERS.some((requester) => provider.holds(requester, 'read'))).toBe(false);
    // Their DMs did reach Slack, which has answered none of them.
    await waitForValue(until(() => endedDms().length > 0));

    // Once Slack answers, each requester hears that their access ended.
    release();
    await waitForValue(until(() => endedDms().length === REQUESTERS.length));
    expect(new Set(endedDms().map((call) => call.args.channel)).size).toBe(REQUESTERS.length);
  });
});
