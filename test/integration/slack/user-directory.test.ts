import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/logging/logger.ts';
import { createSlackApiFetch } from '../../../src/slack/slack-api-fetch.ts';
import { SlackUserDirectory } from '../../../src/slack/user-directory.ts';
import { SlackUsergroupDirectory } from '../../../src/slack/usergroup-directory.ts';
import { FakeSlack } from '../../../tools/sandbox/fake-slack.ts';

/**
 * People's Slack profiles: read once per TTL (a request does not wait on users.info each time), at
 * most a bounded number kept, and a profile Slack will not give is never remembered.
 */

let slack: FakeSlack;
let clock: number;
const TTL_MS = 60_000;

beforeAll(async () => {
  slack = await FakeSlack.start();
  slack.addUser({ id: 'U0ALICE', name: 'alice', email: 'alice@example.com' });
  slack.addUser({ id: 'U0GONE', name: 'gone', email: 'gone@example.com', deleted: true });
});
afterAll(() => slack.close());
beforeEach(() => {
  slack.reset();
  clock = 1_000_000;
});

const directory = (maxProfiles?: number) =>
  new SlackUserDirectory(
    SlackUsergroupDirectory.fastClient(slack.botToken, slack.apiUrl, createSlackApiFetch({ apiUrl: slack.apiUrl })),
    () => slack.teamId,
    createLogger({ level: 'silent' }),
    TTL_MS,
    () => clock,
    maxProfiles,
  );

describe('SlackUserDirectory', () => {
  it('reads a profile once within the TTL, and again after it', async () => {
    const users = directory();
    const alice = await users.profile('U0ALICE');
    expect(alice).toEqual({ id: 'U0ALICE', email: 'alice@example.com', account: { deleted: false, bot: false, guest: false, emailConfirmed: true, ofLatchTeam: true } });
    clock += TTL_MS - 1;
    expect(await users.profile('U0ALICE')).toEqual(alice);
    expect(slack.callsTo('users.info')).toHaveLength(1);
    clock += 1;
    await users.profile('U0ALICE');
    expect(slack.callsTo('users.info')).toHaveLength(2);
  });

  it("keeps a profile that refuses as it is (a deactivated account stays refused)", async () => {
    const users = directory();
    expect((await users.profile('U0GONE'))?.account.deleted).toBe(true);
    expect((await users.profile('U0GONE'))?.account.deleted).toBe(true);
    expect(slack.callsTo('users.info')).toHaveLength(1);
  });

  it('never remembers a profile Slack would not give: the next request asks again', async () => {
    const users = directory();
    slack.failOnce('users.info', 'ratelimited');
    expect(await users.profile('U0ALICE')).toBeNull();
    expect((await users.profile('U0ALICE'))?.email).toBe('alice@example.com');
    expect(slack.callsTo('users.info')).toHaveLength(2);
  });

  it('keeps at most its bound of profiles, forgetting the oldest read first', async () => {
    const users = directory(2);
    for (const id of ['U0ONE', 'U0TWO', 'U0THREE']) await users.profile(id);
    slack.reset();
    await users.profile('U0THREE');
    await users.profile('U0TWO');
    expect(slack.callsTo('users.info')).toHaveLength(0);
    await users.profile('U0ONE');
    expect(slack.callsTo('users.info').map((call) => call.args.user)).toEqual(['U0ONE']);
  });
});
