import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FakeSlack } from '../../../../tools/sandbox/fake-slack.ts';

let slack: FakeSlack;

beforeAll(async () => {
  slack = await FakeSlack.start({ users: [{ id: 'U1', name: 'ada', email: 'ada@example.com', tz: 'Europe/London' }] });
});
afterAll(() => slack.close());
beforeEach(() => slack.reset());

async function call(method: string, args: Record<string, unknown>, token: string | null = slack.botToken) {
  const form = new URLSearchParams();
  for (const [key, value] of Object.entries(args)) form.set(key, typeof value === 'string' ? value : JSON.stringify(value));
  const response = await fetch(`${slack.apiUrl}${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: form,
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, any> };
}

describe('fake Slack Web API', () => {
  it('records each call with its decoded arguments and token', async () => {
    const blocks = [{ type: 'section', text: { type: 'mrkdwn', text: 'hello' } }];
    const { body } = await call('chat.postMessage', { channel: 'C1', text: 'hi', blocks });
    expect(body).toMatchObject({ ok: true, channel: 'C1', ts: expect.stringMatching(/^\d+\.\d{6}$/) });
    expect(slack.callsTo('chat.postMessage')).toEqual([
      { method: 'chat.postMessage', args: { channel: 'C1', text: 'hi', blocks }, token: slack.botToken, at: expect.any(Date) },
    ]);
  });

  it('gives every posted message its own ts, as Slack does', async () => {
    const first = await call('chat.postMessage', { channel: 'C1', text: 'one' });
    const second = await call('chat.postMessage', { channel: 'C1', text: 'two' });
    expect(first.body.ts).not.toBe(second.body.ts);
  });

  it('refuses a missing or wrong token like Slack', async () => {
    expect((await call('auth.test', {}, null)).body).toEqual({ ok: false, error: 'not_authed' });
    expect((await call('auth.test', {}, 'xoxb-wrong')).body).toEqual({ ok: false, error: 'invalid_auth' });
  });

  it('answers a scripted error once, with HTTP 200 and ok: false', async () => {
    slack.failOnce('chat.postMessage', 'channel_not_found');
    const failed = await call('chat.postMessage', { channel: 'C1', text: 'x' });
    expect(failed).toMatchObject({ status: 200, body: { ok: false, error: 'channel_not_found' } });
    expect((await call('chat.postMessage', { channel: 'C1', text: 'x' })).body.ok).toBe(true);
  });

  it('rate limits with HTTP 429 and Retry-After', async () => {
    slack.rateLimitOnce('chat.update', 7);
    const limited = await call('chat.update', { channel: 'C1', ts: '1.000001', text: 'x' });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('7');
    expect((await call('chat.update', { channel: 'C1', ts: '1.000001', text: 'x' })).status).toBe(200);
  });

  it("enforces Slack's Block Kit limits", async () => {
    const tooMany = Array.from({ length: 51 }, () => ({ type: 'divider' }));
    expect((await call('chat.postMessage', { channel: 'C1', blocks: tooMany })).body.error).toBe('invalid_blocks');
    const longSection = [{ type: 'section', text: { type: 'mrkdwn', text: 'x'.repeat(3001) } }];
    expect((await call('chat.postMessage', { channel: 'C1', blocks: longSection })).body.error).toBe('invalid_blocks');
    expect((await call('views.publish', { user_id: 'U1', view: { type: 'home', blocks: tooMany } })).body.ok).toBe(true);
  });

  it('needs a trigger to open a modal', async () => {
    const view = { type: 'modal', title: { type: 'plain_text', text: 'Request' }, blocks: [] };
    expect((await call('views.open', { view })).body).toEqual({ ok: false, error: 'invalid_arguments' });
    expect((await call('views.open', { view, trigger_id: '1.2.3' })).body).toMatchObject({ ok: true, view: { id: expect.any(String) } });
  });

  it('looks up the users it was given, as Slack describes a member of the workspace', async () => {
    expect((await call('users.info', { user: 'U1' })).body.user).toMatchObject({
      id: 'U1',
      team_id: slack.teamId,
      tz: 'Europe/London',
      deleted: false,
      is_bot: false,
      is_app_user: false,
      is_restricted: false,
      is_ultra_restricted: false,
      is_email_confirmed: true,
      profile: { email: 'ada@example.com' },
    });
    expect((await call('users.info', { user: 'bad id' })).body).toEqual({ ok: false, error: 'user_not_found' });
  });

  it('answers for a user it was never given as a plain member without an email; strict, it says user_not_found', async () => {
    expect((await call('users.info', { user: 'U404' })).body.user).toMatchObject({ id: 'U404', deleted: false, is_bot: false, is_restricted: false, team_id: slack.teamId });
    expect((await call('users.info', { user: 'U404' })).body.user.profile.email).toBeUndefined();
    const strict = await FakeSlack.start({ strict: true });
    try {
      const response = await fetch(`${strict.apiUrl}users.info`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Bearer ${strict.botToken}` },
        body: new URLSearchParams({ user: 'U404' }),
      });
      expect(await response.json()).toEqual({ ok: false, error: 'user_not_found' });
    } finally {
      await strict.close();
    }
  });

  it('describes deactivated accounts, guests, bots, app users, unconfirmed emails and other teams as Slack does', async () => {
    slack.addUser({ id: 'U2', name: 'gone', deleted: true });
    slack.addUser({ id: 'U3', name: 'guest', isRestricted: true });
    slack.addUser({ id: 'U4', name: 'single', isUltraRestricted: true });
    slack.addUser({ id: 'U5', name: 'bot', isBot: true });
    slack.addUser({ id: 'U6', name: 'app', isAppUser: true });
    slack.addUser({ id: 'U7', name: 'unconfirmed', email: 'u@example.com', emailConfirmed: false });
    slack.addUser({ id: 'W8', name: 'connect', teamId: 'T0OTHER' });
    const user = async (id: string) => (await call('users.info', { user: id })).body.user;
    expect(await user('U2')).toMatchObject({ deleted: true });
    expect(await user('U3')).toMatchObject({ is_restricted: true, is_ultra_restricted: false });
    // A single-channel guest is restricted too, as Slack reports it.
    expect(await user('U4')).toMatchObject({ is_restricted: true, is_ultra_restricted: true });
    expect(await user('U5')).toMatchObject({ is_bot: true });
    expect(await user('U6')).toMatchObject({ is_app_user: true, is_bot: false });
    expect(await user('U7')).toMatchObject({ is_email_confirmed: false });
    expect(await user('W8')).toMatchObject({ team_id: 'T0OTHER' });
  });

  it('keeps user group membership between calls', async () => {
    slack.setUsergroupMembers('S1', ['U1']);
    await call('usergroups.users.update', { usergroup: 'S1', users: 'U1,U2' });
    expect((await call('usergroups.users.list', { usergroup: 'S1' })).body.users).toEqual(['U1', 'U2']);
  });

  it('says no_such_subteam for a user group it was never told about', async () => {
    for (const method of ['usergroups.users.list', 'usergroups.enable', 'usergroups.disable']) {
      expect((await call(method, { usergroup: 'S404' })).body).toEqual({ ok: false, error: 'no_such_subteam' });
    }
    expect((await call('usergroups.users.update', { usergroup: 'S404', users: 'U1' })).body).toEqual({ ok: false, error: 'no_such_subteam' });
  });

  it('holds a declared empty group, and refuses to empty a group as Slack does', async () => {
    slack.addUsergroup('S2');
    expect((await call('usergroups.users.list', { usergroup: 'S2' })).body).toEqual({ ok: true, users: [] });
    await call('usergroups.users.update', { usergroup: 'S2', users: 'U1' });
    expect((await call('usergroups.users.update', { usergroup: 'S2', users: '' })).body).toEqual({ ok: false, error: 'invalid_users' });
    expect((await call('usergroups.users.update', { usergroup: 'S2', users: 'U1,@ada' })).body).toEqual({ ok: false, error: 'invalid_users' });
    expect(slack.usergroup('S2')).toMatchObject({ users: ['U1'], disabled: false });
  });

  it('disables and enables a group, keeping its members; a disabled group is listed only when asked', async () => {
    slack.addUsergroup('S3', { users: ['U1'], handle: 'oncall' });
    expect((await call('usergroups.disable', { usergroup: 'S3' })).body).toMatchObject({ ok: true, usergroup: { id: 'S3', date_delete: expect.any(Number) } });
    expect(slack.usergroup('S3')).toMatchObject({ users: ['U1'], disabled: true });
    expect((await call('usergroups.users.list', { usergroup: 'S3' })).body).toEqual({ ok: false, error: 'no_such_subteam' });
    expect((await call('usergroups.users.list', { usergroup: 'S3', include_disabled: true })).body).toEqual({ ok: true, users: ['U1'] });
    const listed = async (args: Record<string, unknown>) =>
      ((await call('usergroups.list', args)).body.usergroups as Array<Record<string, unknown>>).filter((group) => group.id === 'S3');
    expect(await listed({})).toEqual([]);
    expect(await listed({ include_disabled: true, include_users: true })).toEqual([
      expect.objectContaining({ id: 'S3', handle: 'oncall', users: ['U1'], date_delete: expect.any(Number) }),
    ]);
    expect((await listed({ include_disabled: true }))[0]!.date_delete).not.toBe(0);
    expect((await call('usergroups.enable', { usergroup: 'S3' })).body).toMatchObject({ ok: true, usergroup: { id: 'S3', date_delete: 0 } });
    expect(await listed({ include_count: true })).toEqual([expect.objectContaining({ id: 'S3', date_delete: 0, user_count: '1' })]);
  });

  it('says unknown_method for what it does not know', async () => {
    expect((await call('admin.everything.delete', {})).body).toEqual({ ok: false, error: 'unknown_method' });
  });

  it('records what is posted to a response_url', async () => {
    const response = await fetch(slack.responseUrl('cmd-1'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ response_type: 'ephemeral', text: 'only you can see this' }),
    });
    expect(response.status).toBe(200);
    expect(slack.callsTo('response_url')).toEqual([
      expect.objectContaining({ args: { id: 'cmd-1', response_type: 'ephemeral', text: 'only you can see this' } }),
    ]);
  });

  it('waits for a call that has not happened yet', async () => {
    const waiting = slack.waitForCall('chat.postMessage', (c) => c.args.channel === 'C9');
    await call('chat.postMessage', { channel: 'C1', text: 'not this one' });
    await call('chat.postMessage', { channel: 'C9', text: 'this one' });
    expect((await waiting).args.text).toBe('this one');
    await expect(slack.waitForCall('views.open', () => true, 50)).rejects.toThrow(/no matching views.open call/);
  });
});
