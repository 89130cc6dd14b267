import { afterEach, describe, expect, it } from 'vitest';
import { Workspace } from '../../../tools/sandbox/workspace.ts';
import { LatchHarness } from '../../helpers/latch-harness.ts';
import { MemoryProvider } from '../../helpers/memory-provider.ts';
import { testPolicy, testResource } from '../../helpers/test-policy.ts';

/**
 * Tests grant for seconds through an option only they can give (createLatch's
 * minimumDurationSeconds), so none waits out a real minute; without it Latch asks for a minute at
 * least, as a deployment always does. The same, through `latch start` itself: the start test.
 */
const REQUESTER = 'U0REQUESTER';
const APPROVER = 'U0APPROVER1';
const policy = testPolicy([testResource({ identity: { map: { [REQUESTER]: 'alice' }, from: 'map-only', template: '{email}' } })]);

let h: LatchHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The action ids of the buttons for request `id` still in the requester's DM, as Slack holds it now. */
function buttonsFor(harness: LatchHarness, id: string): string[] {
  return harness.slack.workspace
    .messagesIn(Workspace.dmChannelOf(REQUESTER), REQUESTER)
    .flatMap((message) => ((message.blocks ?? []) as Array<{ type: string; elements?: Array<{ action_id?: string; value?: string }> }>).filter((block) => block.type === 'actions'))
    .flatMap((block) => block.elements ?? [])
    .filter((element) => element.value === id)
    .map((element) => element.action_id ?? '');
}

async function ask(harness: LatchHarness, text: string): Promise<string> {
  const id = `ask-${Math.random()}`;
  expect((await harness.command(REQUESTER, text, id)).status).toBe(200);
  return String((await harness.slack.waitForCall('response_url', (call) => call.args.id === id)).args.text);
}

describe('seconds-long grants', () => {
  it('are refused with the one-minute message unless the test lowers the minimum', async () => {
    h = await LatchHarness.start(policy);
    expect(await ask(h, 'prod-db read 30s a quick look')).toContain('A duration must be at least one minute.');
    expect(await h.db.accessRequest.count()).toBe(0);
  });

  it('with a minimum of a second: a 3 s grant really exists, then is revoked at its expiry', async () => {
    const provider = new MemoryProvider();
    h = await LatchHarness.start(policy, { provider, minimumDurationSeconds: 1 });
    expect(await ask(h, 'prod-db read 3s a quick look')).toBe('Request sent: you will get a message when it is decided.');
    const request = await h.db.accessRequest.findFirstOrThrow({ where: { requesterSlackId: REQUESTER } });
    expect(request.durationSeconds).toBe(3);
    await waitFor(async () => (await h!.db.accessRequest.findUniqueOrThrow({ where: { id: request.id } })).approvalMessageTs !== null);
    await h.click(APPROVER, 'latch_approve', request.id);
    const stateOf = async () => (await h!.db.accessRequest.findUniqueOrThrow({ where: { id: request.id } })).state;
    await waitFor(async () => (await stateOf()) === 'active');
    expect(provider.holds('alice', 'read')).toBe(true);

    await waitFor(async () => (await stateOf()) === 'revoked');
    expect(provider.holds('alice', 'read')).toBe(false);
    const grant = await h.db.grant.findUniqueOrThrow({ where: { requestId: request.id } });
    expect(grant.expiresAt!.getTime() - grant.grantedAt!.getTime()).toBe(3_000);
    expect(grant.revokedAt!.getTime()).toBeGreaterThanOrEqual(grant.expiresAt!.getTime());

    // The requester's DM: the access ended on its own, so nothing there can be pressed for it any more.
    const dm = Workspace.dmChannelOf(REQUESTER);
    const texts = () => h!.slack.workspace.messagesIn(dm, REQUESTER).map((message) => message.text);
    const revoked = 'Your request for read on Production database for 3s: revoked';
    // The confirmation is rewritten first, then the notice of the end is posted: wait for both.
    await waitFor(() => texts()[0] === revoked && texts().at(-1) === revoked && texts().length > 1);
    await waitFor(() => buttonsFor(h!, request.id).length === 0);
  });
});
