import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AccessProvider, ProviderGrant } from '../../../src/providers/provider.ts';
import { createSlackUsergroupProvider } from '../../../src/providers/slack-usergroup/slack-usergroup-provider.ts';
import type { TargetLocks } from '../../../src/providers/target-lock.ts';
import { PostgresTargetLocks } from '../../../src/store/target-lock.ts';
import { FakeSlack } from '../../../tools/sandbox/fake-slack.ts';
import { freePort } from '../../helpers/free-port.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/test-database.ts';

// The group locks live in PostgreSQL: a database of this file's own, so no other test's groups
// share a lock key with these.
let lockDatabase: TestDatabase;
const lockPools: PostgresTargetLocks[] = [];
/** A lock as one Latch process has it: each call is another process, with a pool of its own. */
function processLocks(options: { waitMs?: number } = {}): PostgresTargetLocks {
  const locks = new PostgresTargetLocks({ databaseUrl: lockDatabase.url, poolSize: 4, ...options });
  lockPools.push(locks);
  return locks;
}
let sharedLocks: TargetLocks;

beforeAll(async () => {
  lockDatabase = await createTestDatabase({ migrated: false });
  sharedLocks = processLocks();
});
afterAll(async () => {
  await Promise.all(lockPools.map((locks) => locks.close({ force: true })));
  await lockDatabase?.drop();
});

function build(slack: FakeSlack, settings: Record<string, unknown>, env: Record<string, string> = {}, locks: TargetLocks = sharedLocks): AccessProvider {
  const built = createSlackUsergroupProvider(settings, { SLACK_BOT_TOKEN: slack.botToken, SLACK_API_URL: slack.apiUrl, ...env }, { locks });
  if (!built.ok) throw new Error(built.problems.join('\n'));
  return built.provider;
}

function grantFor(principal: string, role = 'admin'): ProviderGrant {
  return {
    grantId: randomUUID(),
    requestId: randomUUID(),
    resourceId: 'slack-oncall',
    role,
    principal,
    expiresAt: new Date(Date.now() + 3_600_000),
  };
}

const UNKNOWN_GROUP = 'S0NOSUCHGROUP';

describe('slack-usergroup provider', () => {
  let slack: FakeSlack;
  const methods = () => slack.calls.map((call) => call.method);
  const updates = () => slack.callsTo('usergroups.users.update').map((call) => call.args.users);

  beforeAll(async () => {
    slack = await FakeSlack.start();
  });
  afterAll(() => slack.close());
  beforeEach(() => slack.reset());

  describe('membership', () => {
    it('adds and removes only the principal, and writes nothing when nothing changes', async () => {
      slack.addUsergroup('S0OPS', { users: ['U0ALICE', 'U0BOB'] });
      const provider = build(slack, { usergroup: 'S0OPS' });
      const carol = grantFor('U0CAROL');

      expect(await provider.grant(carol)).toEqual({ ok: true, value: undefined });
      expect(slack.usergroup('S0OPS')?.users).toEqual(['U0ALICE', 'U0BOB', 'U0CAROL']);
      expect(await provider.grant(carol)).toEqual({ ok: true, value: undefined });
      expect(updates()).toEqual(['U0ALICE,U0BOB,U0CAROL']);

      expect(await provider.revoke(carol)).toEqual({ ok: true, value: undefined });
      expect(slack.usergroup('S0OPS')).toMatchObject({ users: ['U0ALICE', 'U0BOB'], disabled: false });
      expect(await provider.revoke(carol)).toEqual({ ok: true, value: undefined });
      expect(await provider.revoke(grantFor('U0NEVER'))).toEqual({ ok: true, value: undefined });
      expect(updates()).toEqual(['U0ALICE,U0BOB,U0CAROL', 'U0ALICE,U0BOB']);
      expect(methods()).not.toContain('usergroups.enable');
      expect(methods()).not.toContain('usergroups.disable');
    });

    it('maps each role to its group, and a role without its own group to `usergroup`', async () => {
      slack.addUsergroup('S0READ', { users: ['U0ALICE'] });
      slack.addUsergroup('S0ALL', { users: ['U0ALICE'] });
      const provider = build(slack, { usergroup: 'S0ALL', roles: { read: 'S0READ' } });
      expect((await provider.grant(grantFor('U0BOB', 'read'))).ok).toBe(true);
      expect((await provider.grant(grantFor('U0CAROL', 'write'))).ok).toBe(true);
      expect(slack.usergroup('S0READ')?.users).toEqual(['U0ALICE', 'U0BOB']);
      expect(slack.usergroup('S0ALL')?.users).toEqual(['U0ALICE', 'U0CAROL']);
      expect(await provider.list!('read')).toEqual({ ok: true, value: ['U0ALICE', 'U0BOB'] });
    });

    it('disables the group to remove its last member, and a later grant writes the new member, then enables it', async () => {
      slack.addUsergroup('S0SOLO', { users: ['U0ALICE'] });
      const provider = build(slack, { usergroup: 'S0SOLO' });

      expect(await provider.revoke(grantFor('U0ALICE'))).toEqual({ ok: true, value: undefined });
      expect(slack.usergroup('S0SOLO')?.disabled).toBe(true);
      expect(updates()).toEqual([]);
      // A disabled group holds nobody, whatever member list Slack keeps for it.
      expect(await provider.check(grantFor('U0ALICE'))).toEqual({ ok: true, value: false });
      expect(await provider.list!('admin')).toEqual({ ok: true, value: [] });
      expect(await provider.revoke(grantFor('U0ALICE'))).toEqual({ ok: true, value: undefined });
      expect(slack.callsTo('usergroups.disable')).toHaveLength(1);

      slack.reset();
      expect(await provider.grant(grantFor('U0BOB'))).toEqual({ ok: true, value: undefined });
      expect(slack.usergroup('S0SOLO')).toMatchObject({ users: ['U0BOB'], disabled: false });
      const writes = methods().filter((method) => method === 'usergroups.users.update' || method === 'usergroups.enable');
      expect(writes).toEqual(['usergroups.users.update', 'usergroups.enable']);
      expect(await provider.check(grantFor('U0ALICE'))).toEqual({ ok: true, value: false });
      expect(await provider.list!('admin')).toEqual({ ok: true, value: ['U0BOB'] });
    });

    it('only enables the group when the member it still lists is the one granted again', async () => {
      slack.addUsergroup('S0SOLO2', { users: ['U0ALICE'], disabled: true });
      const provider = build(slack, { usergroup: 'S0SOLO2' });
      expect(await provider.grant(grantFor('U0ALICE'))).toEqual({ ok: true, value: undefined });
      expect(slack.usergroup('S0SOLO2')).toMatchObject({ users: ['U0ALICE'], disabled: false });
      expect(slack.callsTo('usergroups.enable')).toHaveLength(1);
      expect(updates()).toEqual([]);
    });

    it('queues changes to one group, so two grants at once both end up in it', async () => {
      slack.addUsergroup('S0BUSY', { users: ['U0ALICE'] });
      const provider = build(slack, { usergroup: 'S0BUSY' });
      const results = await Promise.all([provider.grant(grantFor('U0BOB')), provider.grant(grantFor('U0CAROL'))]);
      expect(results).toEqual([
        { ok: true, value: undefined },
        { ok: true, value: undefined },
      ]);
      expect(slack.usergroup('S0BUSY')?.users).toEqual(['U0ALICE', 'U0BOB', 'U0CAROL']);
      expect(updates()).toEqual(['U0ALICE,U0BOB', 'U0ALICE,U0BOB,U0CAROL']);

      const revoked = await Promise.all([provider.revoke(grantFor('U0BOB')), provider.revoke(grantFor('U0CAROL'))]);
      expect(revoked.every((result) => result.ok)).toBe(true);
      expect(slack.usergroup('S0BUSY')?.users).toEqual(['U0ALICE']);

      // A failed change does not hold up the ones queued behind it.
      slack.rateLimitOnce('usergroups.users.list', 1);
      const [limited, next] = await Promise.all([provider.grant(grantFor('U0BOB')), provider.grant(grantFor('U0CAROL'))]);
      expect(limited).toMatchObject({ ok: false, failure: { kind: 'transient' } });
      expect(next).toEqual({ ok: true, value: undefined });
      expect(slack.usergroup('S0BUSY')?.users).toEqual(['U0ALICE', 'U0CAROL']);
    });

    it('reads the group back, and calls a change lost to someone else’s edit transient', async () => {
      slack.addUsergroup('S0RACE', { users: ['U0ALICE'] });
      const provider = build(slack, { usergroup: 'S0RACE' });
      // Slack accepts the write, but another writer replaces the list straight after.
      slack.replyOnce('usergroups.users.update', () => {
        slack.setUsergroupMembers('S0RACE', ['U0ALICE', 'U0DAVE']);
        return { ok: true };
      });
      const result = await provider.grant(grantFor('U0BOB'));
      expect(result).toEqual({ ok: false, failure: { kind: 'transient', message: expect.stringContaining('changed while Latch was editing it') } });
      expect(await provider.grant(grantFor('U0BOB'))).toEqual({ ok: true, value: undefined });
      expect(slack.usergroup('S0RACE')?.users).toEqual(['U0ALICE', 'U0DAVE', 'U0BOB']);
    });

    it('verifies the whole member list it wrote: anyone added or removed behind its back is a transient failure', async () => {
      slack.addUsergroup('S0WHOLE', { users: ['U0ALICE', 'U0BOB'] });
      const provider = build(slack, { usergroup: 'S0WHOLE' });
      // The grant's write lands, and someone else adds Dave at the same moment.
      slack.replyOnce('usergroups.users.update', (call) => {
        slack.setUsergroupMembers('S0WHOLE', [...String(call.args.users).split(','), 'U0DAVE']);
        return { ok: true };
      });
      expect(await provider.grant(grantFor('U0CAROL'))).toEqual({
        ok: false,
        failure: { kind: 'transient', message: expect.stringMatching(/changed while Latch was editing it \(read back also holding U0DAVE\)/) },
      });

      // The revocation's write lands (Carol is gone), and someone else takes Alice out meanwhile.
      slack.setUsergroupMembers('S0WHOLE', ['U0ALICE', 'U0BOB', 'U0CAROL']);
      slack.replyOnce('usergroups.users.update', (call) => {
        slack.setUsergroupMembers('S0WHOLE', String(call.args.users).split(',').filter((user) => user !== 'U0ALICE'));
        return { ok: true };
      });
      const revoked = await provider.revoke(grantFor('U0CAROL'));
      expect(revoked).toEqual({ ok: false, failure: { kind: 'transient', message: expect.stringContaining('(read back missing U0ALICE)') } });
      expect(slack.usergroup('S0WHOLE')?.users).toEqual(['U0BOB']);

      // The retry reads the group afresh: Carol is verified gone, and nothing more is written.
      const writes = updates().length;
      expect(await provider.revoke(grantFor('U0CAROL'))).toEqual({ ok: true, value: undefined });
      expect(updates()).toHaveLength(writes);
    });

    it('serialises changes to one group across processes, so interleaved grants and revokes lose nothing', async () => {
      slack.addUsergroup('S0SHARED', { users: ['U0ALICE', 'U0BOB', 'U0CAROL'] });
      // Two Latch processes: a provider each, with a lock pool each, on one database.
      const [first, second] = [build(slack, { usergroup: 'S0SHARED' }, {}, processLocks()), build(slack, { usergroup: 'S0SHARED' }, {}, processLocks())];
      // Slack takes its time writing, so a read by one process would fall inside the other's write.
      slack.slowDown('usergroups.users.update', 300);
      const results = await Promise.all([
        first.revoke(grantFor('U0ALICE')),
        second.grant(grantFor('U0DAVE')),
        first.grant(grantFor('U0ERIN')),
        second.revoke(grantFor('U0BOB')),
        first.revoke(grantFor('U0CAROL')),
        second.grant(grantFor('U0FRANK')),
      ]);
      expect(results.map((result) => result.ok)).toEqual([true, true, true, true, true, true]);
      expect(new Set(slack.usergroup('S0SHARED')?.users)).toEqual(new Set(['U0DAVE', 'U0ERIN', 'U0FRANK']));
      // No write was ever lost and repaired: each change wrote once.
      expect(updates()).toHaveLength(6);
    });

    it('fails transiently, writing nothing, when another holder keeps the group past the wait', async () => {
      slack.addUsergroup('S0STUCK', { users: ['U0ALICE'] });
      const stuck = processLocks();
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      let holding!: () => void;
      const taken = new Promise<void>((resolve) => (holding = resolve));
      const holder = stuck.withLock(`slack-usergroup:${slack.teamId}:S0STUCK`, async () => {
        holding();
        await held;
      });
      await taken;
      const provider = build(slack, { usergroup: 'S0STUCK' }, {}, processLocks({ waitMs: 300 }));
      expect(await provider.revoke(grantFor('U0ALICE'))).toEqual({
        ok: false,
        failure: { kind: 'transient', message: expect.stringContaining('another change to the group did not finish in time, nothing was changed') },
      });
      expect(slack.callsTo('usergroups.users.list')).toEqual([]);
      release();
      await holder;
      expect(await provider.revoke(grantFor('U0ALICE'))).toEqual({ ok: true, value: undefined });
      expect(slack.usergroup('S0STUCK')?.disabled).toBe(true);
    });
  });

  describe('failures', () => {
    beforeEach(() => slack.addUsergroup('S0FAIL', { users: ['U0ALICE'] }));

    it('is transient at once when Slack rate limits, instead of waiting for Retry-After', async () => {
      const provider = build(slack, { usergroup: 'S0FAIL' });
      slack.rateLimitOnce('usergroups.users.list', 30);
      const started = Date.now();
      const result = await provider.grant(grantFor('U0BOB'));
      expect(result).toEqual({
        ok: false,
        failure: { kind: 'transient', message: 'Could not add U0BOB to Slack user group S0FAIL: Slack rate limited usergroups.users.list (retry after 30 s)' },
      });
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(slack.callsTo('usergroups.users.list')).toHaveLength(1);
    });

    it('is transient for Slack’s own trouble and for network errors', async () => {
      const provider = build(slack, { usergroup: 'S0FAIL' });
      slack.failOnce('usergroups.users.update', 'fatal_error');
      expect(await provider.grant(grantFor('U0BOB'))).toMatchObject({ ok: false, failure: { kind: 'transient' } });
      slack.failOnce('usergroups.users.list', 'internal_error');
      expect(await provider.revoke(grantFor('U0ALICE'))).toMatchObject({ ok: false, failure: { kind: 'transient' } });
      slack.replyOnce('usergroups.list', { status: 503, body: 'upstream unavailable' });
      expect(await provider.check(grantFor('U0ALICE'))).toEqual({
        ok: false,
        failure: { kind: 'transient', message: 'Could not check U0ALICE in Slack user group S0FAIL: Slack answered usergroups.list with HTTP 503' },
      });

      const unreachable = build(slack, { usergroup: 'S0FAIL' }, { SLACK_API_URL: `http://127.0.0.1:${await freePort()}/api/` });
      expect(await unreachable.revoke(grantFor('U0ALICE'))).toEqual({
        ok: false,
        failure: { kind: 'transient', message: expect.stringMatching(/^Could not remove U0ALICE from Slack user group S0FAIL: could not reach Slack/) },
      });
    });

    it('is permanent, saying what to fix, for a missing scope', async () => {
      const provider = build(slack, { usergroup: 'S0FAIL' });
      slack.replyOnce('usergroups.users.update', { ok: false, error: 'missing_scope', needed: 'usergroups:write', provided: 'usergroups:read' });
      expect(await provider.grant(grantFor('U0BOB'))).toEqual({
        ok: false,
        failure: { kind: 'permanent', message: 'Could not add U0BOB to Slack user group S0FAIL: Slack refused: missing_scope (the app needs usergroups:write)' },
      });
      slack.failOnce('usergroups.users.list', 'missing_scope');
      expect(await provider.check(grantFor('U0BOB'))).toMatchObject({
        ok: false,
        failure: { kind: 'permanent', message: expect.stringContaining('Slack refused: missing_scope (the app needs usergroups:read)') },
      });
    });

    it('is permanent for a role without a group, a group Slack does not know, and a refused edit', async () => {
      const provider = build(slack, { roles: { read: 'S0FAIL', ghost: UNKNOWN_GROUP } });
      expect(await provider.grant(grantFor('U0BOB', 'write'))).toEqual({
        ok: false,
        failure: { kind: 'permanent', message: expect.stringContaining('Role "write" has no Slack user group') },
      });
      expect(await provider.list!('write')).toMatchObject({ ok: false, failure: { kind: 'permanent' } });
      expect(await provider.grant(grantFor('U0BOB', 'ghost'))).toMatchObject({
        ok: false,
        failure: { kind: 'permanent', message: expect.stringContaining(`Slack refused: no_such_subteam`) },
      });
      // On some plans only admins may edit user groups.
      slack.failOnce('usergroups.disable', 'permission_denied');
      expect(await provider.revoke(grantFor('U0ALICE', 'read'))).toMatchObject({
        ok: false,
        failure: { kind: 'permanent', message: expect.stringContaining('Slack refused: permission_denied (the app may not edit this user group') },
      });
      expect(slack.usergroup('S0FAIL')).toMatchObject({ users: ['U0ALICE'], disabled: false });
      expect(updates()).toEqual([]);
    });

    it('is permanent for a refused token, and never shows it', async () => {
      const provider = build(slack, { usergroup: 'S0FAIL' }, { SLACK_BOT_TOKEN: 'xoxb-not-the-right-one' });
      const result = await provider.grant(grantFor('U0BOB'));
      expect(result).toMatchObject({ ok: false, failure: { kind: 'permanent', message: expect.stringContaining('Slack refused: invalid_auth') } });
      expect(JSON.stringify(result)).not.toContain('xoxb-not-the-right-one');
    });

    it('refuses a principal that is not a Slack user id, so nobody else is named into the group', async () => {
      const provider = build(slack, { usergroup: 'S0FAIL' });
      const result = await provider.grant(grantFor('U0BOB,U0MALLORY'));
      expect(result).toMatchObject({ ok: false, failure: { kind: 'permanent', message: expect.stringContaining('is not a Slack user id') } });
      expect(JSON.stringify(result)).not.toContain('MALLORY');
      expect(slack.calls).toEqual([]);
    });
  });

  describe('createSlackUsergroupProvider', () => {
    const env = { SLACK_BOT_TOKEN: 'xoxb-1234-secret' };
    const services = { locks: { withLock: <T>(_key: string, work: () => Promise<T>) => work() } };
    const problems = (settings: Record<string, unknown>, withEnv: Record<string, string | undefined> = env) => {
      const built = createSlackUsergroupProvider(settings, withEnv, services);
      return built.ok ? [] : built.problems;
    };

    it('builds a provider from a group for every role, or a group per role', () => {
      expect(createSlackUsergroupProvider({ usergroup: 'S0OPS' }, env, services)).toMatchObject({ ok: true, provider: { type: 'slack-usergroup' } });
      expect(createSlackUsergroupProvider({ roles: { read: 'S0READ' } }, env, services).ok).toBe(true);
    });

    it('is not built without the lock that serialises changes to a group across processes', () => {
      expect(createSlackUsergroupProvider({ usergroup: 'S0OPS' }, env)).toEqual({
        ok: false,
        problems: [expect.stringContaining('needs the lock Latch keeps in PostgreSQL')],
      });
    });

    it('needs the bot token, and never echoes it', () => {
      expect(problems({ usergroup: 'S0OPS' }, {})).toEqual([expect.stringMatching(/^SLACK_BOT_TOKEN is not set: /)]);
      expect(problems({ usergroup: 'S0OPS' }, { SLACK_BOT_TOKEN: '  ' })).toEqual([expect.stringMatching(/^SLACK_BOT_TOKEN is not set: /)]);
      const listed = problems({ usergroup: 'oncall' }, { ...env, SLACK_API_URL: 'ftp://example.com/' });
      expect(listed).toHaveLength(2);
      expect(listed.join('\n')).not.toContain('xoxb-1234-secret');
    });

    it('names each bad group id, one line each, without quoting it', () => {
      const listed = problems({ usergroup: '@dba-team', roles: { read: 'S0READ', write: 's0lower', admin: 42 } });
      expect(listed).toEqual([
        expect.stringMatching(/^settings\.usergroup: must be a Slack user group id such as S0123ABCD/),
        expect.stringMatching(/^settings\.roles\.write: must be a Slack user group id/),
        expect.stringMatching(/^settings\.roles\.admin: must be a Slack user group id/),
      ]);
      expect(listed.join('\n')).not.toMatch(/@dba-team|s0lower/);
    });

    it('names unknown fields, and asks for a group when there is none', () => {
      expect(problems({ usergroup: 'S0OPS', channel: 'C1', token: 'xoxb-pasted' })).toEqual([
        'settings.channel: is not a slack-usergroup setting (known: usergroup, roles)',
        'settings.token: is not a slack-usergroup setting (known: usergroup, roles)',
      ]);
      expect(problems({})).toEqual([
        'settings.usergroup: is missing: give usergroup (one Slack user group for every role) or roles (a user group per role id)',
      ]);
      expect(problems({ roles: {} })).toHaveLength(1);
      expect(problems({ roles: ['S0READ'] })).toEqual([expect.stringMatching(/^settings\.roles: must map role ids to user group ids/)]);
    });

    it('checks SLACK_API_URL when it is set', () => {
      expect(problems({ usergroup: 'S0OPS' }, { ...env, SLACK_API_URL: 'not a url' })).toEqual([
        'SLACK_API_URL: must be an http:// or https:// URL such as https://slack.com/api/',
      ]);
      expect(problems({ usergroup: 'S0OPS' }, { ...env, SLACK_API_URL: '' })).toEqual([]);
    });
  });
});

describe('slack-usergroup provider: only active people are added', () => {
  let slack: FakeSlack;
  beforeAll(async () => {
    slack = await FakeSlack.start({
      users: [
        { id: 'U0GONE', name: 'gone', deleted: true },
        { id: 'U0ROBOT', name: 'robot', isBot: true },
        { id: 'U0APPUSER', name: 'app', isAppUser: true },
        { id: 'U0PERSON', name: 'person' },
      ],
    });
  });
  afterAll(() => slack.close());

  it.each([
    ['U0GONE', 'a deactivated account'],
    ['U0ROBOT', 'a bot or an app'],
    ['U0APPUSER', 'a bot or an app'],
  ])('refuses to add %s (%s), and leaves the group as it was', async (user, why) => {
    slack.addUsergroup('S0GUARDED', { users: ['U0PERSON'] });
    const provider = build(slack, { usergroup: 'S0GUARDED' });
    const refusal = { ok: false, failure: { kind: 'permanent', message: expect.stringContaining(`${user} is ${why}, not an active person of the workspace`) } };
    expect(await provider.checkPrincipal!(user, 'member')).toEqual(refusal);
    expect(await provider.grant(grantFor(user, 'member'))).toEqual(refusal);
    expect(slack.usergroup('S0GUARDED')).toMatchObject({ users: ['U0PERSON'], disabled: false });
  });

  it('adds an active person, and says so when asked first', async () => {
    slack.addUsergroup('S0OPEN', { users: ['U0PERSON'] });
    const provider = build(slack, { usergroup: 'S0OPEN' });
    expect(await provider.checkPrincipal!('U0NEWPERSON', 'member')).toEqual({ ok: true, value: undefined });
    expect(await provider.grant(grantFor('U0NEWPERSON', 'member'))).toEqual({ ok: true, value: undefined });
    expect(slack.usergroup('S0OPEN')?.users).toEqual(['U0PERSON', 'U0NEWPERSON']);
  });
});
