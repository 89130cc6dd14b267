import type { WebClient } from '@slack/web-api';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/logging/logger.ts';
import { SlackUsergroupDirectory } from '../../../src/slack/usergroup-directory.ts';
import { FakeSlack } from '../../../tools/sandbox/fake-slack.ts';

let slack: FakeSlack;
let client: WebClient;
let now = 0;
const logger = createLogger({ level: 'silent' });

beforeAll(async () => {
  slack = await FakeSlack.start();
  client = SlackUsergroupDirectory.fastClient(slack.botToken, slack.apiUrl);
});
afterAll(() => slack.close());
beforeEach(() => {
  slack.reset();
  slack.setUsergroupMembers('S0DBA', ['U1', 'U2']);
  slack.setUsergroupMembers('S0SRE', ['U3']);
});

describe('SlackUsergroupDirectory', () => {
  it('answers which of the given groups a user is in, from usergroups.users.list', async () => {
    const directory = new SlackUsergroupDirectory(client, logger, 60_000, () => now);
    expect(await directory.memberGroups('U1', ['S0DBA', 'S0SRE'])).toEqual(new Set(['S0DBA']));
    expect(await directory.memberGroups('U9', ['S0DBA', 'S0SRE'])).toEqual(new Set());
  });

  it('asks Slack once per group within the cache time, and again after it', async () => {
    const directory = new SlackUsergroupDirectory(client, logger, 60_000, () => now);
    await directory.memberGroups('U1', ['S0DBA']);
    await directory.memberGroups('U2', ['S0DBA']);
    expect(slack.callsTo('usergroups.users.list')).toHaveLength(1);
    slack.setUsergroupMembers('S0DBA', ['U2']);
    now += 60_001;
    expect(await directory.memberGroups('U1', ['S0DBA'])).toEqual(new Set());
    expect(slack.callsTo('usergroups.users.list')).toHaveLength(2);
  });

  it('does not wait out a rate limit (an ack is due within 3 s): the lookup fails closed at once', async () => {
    const directory = new SlackUsergroupDirectory(client, logger, 60_000, () => now);
    slack.rateLimitOnce('usergroups.users.list', 30);
    const started = Date.now();
    expect(await directory.memberGroups('U1', ['S0DBA'])).toEqual(new Set());
    // Far below the 30 s Retry-After: proves it did not sleep, without timing a slow machine.
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('treats a group Slack will not list as having no members', async () => {
    const directory = new SlackUsergroupDirectory(client, logger, 60_000, () => now);
    slack.failOnce('usergroups.users.list', 'no_such_subteam');
    expect(await directory.memberGroups('U1', ['S0DBA'])).toEqual(new Set());
  });
});
