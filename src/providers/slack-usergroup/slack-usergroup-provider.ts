import { LogLevel, WebAPIPlatformError, WebClient } from '@slack/web-api';
import {
  ok,
  type AccessProvider,
  type ProviderFactory,
  type ProviderFailure,
  type ProviderGrant,
  type ProviderResult,
  type RevocationCheck,
} from '../provider.ts';
import { slackFailure, type UsergroupMethod } from './failures.ts';
import { parseProviderSettings } from '../settings-problems.ts';
import { slackUsergroupSettingsSchema } from './settings.ts';
import { TargetLockUnavailable, type TargetLocks } from '../target-lock.ts';

/**
 * Access as membership of a Slack user group: granting adds the user to the group its role maps
 * to, revoking takes them out again, and every other member stays as they are.
 *
 * Slack can only replace a group's whole member list (`usergroups.users.update`), so each change
 * is read, modify, write, then read back to verify. Two writers that interleave lose a change (and
 * can write a revoked person back), so every change to a group holds the group's lock across all
 * Latch processes (TargetLocks, in PostgreSQL) from the read to the read-back; within a process
 * changes to one group also queue one after the other, so only one of them waits on the database.
 * The read-back checks the whole member list: exactly what was written, nobody else added or
 * removed. A person editing the group in Slack at the same moment (Slack has no compare-and-set)
 * makes it differ: that is a transient failure, the job's retry reads the group again.
 *
 * Slack refuses to empty a group, so the last member is removed by disabling the group. Latch
 * treats a disabled group as having no members (its stale member list is ignored), and granting
 * into it writes the new member list before enabling it, so nobody it held comes back.
 */

/** A hung call to Slack fails (transiently) after this long instead of holding a job. */
export const SLACK_CALL_TIMEOUT_MS = 10_000;

/** Slack user ids; also keeps a comma out of the comma-separated member list. */
const SLACK_USER_ID = /^[UW][A-Z0-9]+$/;

/** How many unexpected members a verification failure names, at most. */
const NAMED_IN_MISMATCH = 5;

export interface SlackUsergroupProviderOptions {
  /** A client that does not retry by itself (see `createSlackUsergroupProvider`). */
  client: WebClient;
  /** The group for every role without its own entry in `roles`. */
  usergroup?: string | undefined;
  /** Policy role id → user group id. */
  roles?: Record<string, string> | undefined;
  /** Serialises changes to one group across every Latch process. */
  locks: TargetLocks;
}

/** A failure that ends the operation; turned into a result at the public methods. */
class OperationFailed extends Error {
  constructor(readonly failure: ProviderFailure) {
    super(failure.message);
  }
}

/** A group as Slack holds it: its member list, which a disabled group keeps, and whether it is disabled. */
interface GroupState {
  members: string[];
  disabled: boolean;
}

/** Who the group gives access to: nobody while it is disabled. */
const holders = (state: GroupState): string[] => (state.disabled ? [] : state.members);

export class SlackUsergroupProvider implements AccessProvider {
  readonly type = 'slack-usergroup';
  readonly #client: WebClient;
  readonly #usergroup: string | undefined;
  readonly #roles: Readonly<Record<string, string>>;
  readonly #locks: TargetLocks;
  /** The workspace (auth.test's team_id), asked once: part of each group's lock key. */
  #team: Promise<string> | undefined;
  /** The tail of each group's queue of changes; removed when the queue runs empty. */
  readonly #queues = new Map<string, Promise<void>>();

  constructor(options: SlackUsergroupProviderOptions) {
    this.#client = options.client;
    this.#usergroup = options.usergroup;
    this.#roles = { ...options.roles };
    this.#locks = options.locks;
  }

  grant(grant: ProviderGrant): Promise<ProviderResult> {
    return this.#run(grant, 'add', (group, user) =>
      this.#exclusive(group, () =>
        this.#locked(group, async () => {
          // Under the group's lock, right before the write: changes keep the order they were asked in.
          await this.#requireActivePerson(user);
          await this.#add(group, user);
        }),
      ),
    );
  }

  /** Only an active person is added to a group: not a deactivated account, a bot or an app's user. */
  checkPrincipal(principal: string, role: string): Promise<ProviderResult> {
    return this.#run({ principal, role }, 'check', (_group, user) => this.#requireActivePerson(user));
  }

  revoke(grant: ProviderGrant): Promise<ProviderResult> {
    return this.#run(grant, 'remove', (group, user) => this.#exclusive(group, () => this.#locked(group, () => this.#remove(group, user))));
  }

  check(grant: ProviderGrant): Promise<ProviderResult<boolean>> {
    return this.#run(grant, 'check', async (group, user) => holders(await this.#read(group)).includes(user));
  }

  /** Looks again after a revocation: the person is no longer among the group's members. */
  async verifyRevoked(grant: ProviderGrant): Promise<ProviderResult<RevocationCheck>> {
    const held = await this.check(grant);
    if (!held.ok) return held;
    return ok(held.value ? { gone: false, remains: `${grant.principal} is still a member of the Slack user group` } : { gone: true });
  }

  /**
   * The group a role puts people in. Every slack-usergroup resource uses SLACK_BOT_TOKEN, so all
   * of them edit one workspace's groups and the group id alone names the access.
   */
  accessTarget(role: string): string | undefined {
    const group = this.#groupFor(role);
    return group.ok ? `slack-usergroup:${group.value}` : undefined;
  }

  async list(role: string): Promise<ProviderResult<string[]>> {
    const group = this.#groupFor(role);
    if (!group.ok) return group;
    try {
      const members = await this.#members(group.value);
      return ok(members.length > 0 && (await this.#isDisabled(group.value)) ? [] : members);
    } catch (error) {
      return failed(error, `Could not list Slack user group ${group.value}`);
    }
  }

  /** Resolves the group and checks the principal, then runs `work`, turning failures into results. */
  async #run<T>(
    grant: Pick<ProviderGrant, 'principal' | 'role'>,
    action: 'add' | 'remove' | 'check',
    work: (group: string, user: string) => Promise<T>,
  ): Promise<ProviderResult<T>> {
    const group = this.#groupFor(grant.role);
    if (!group.ok) return group;
    const where = `Slack user group ${group.value}`;
    if (!SLACK_USER_ID.test(grant.principal)) {
      // Not echoed: it is not an id, and a comma in it would name extra members.
      return { ok: false, failure: { kind: 'permanent', message: `The principal for ${where} is not a Slack user id such as U012ABCDEF` } };
    }
    try {
      return ok(await work(group.value, grant.principal));
    } catch (error) {
      const context = {
        add: `Could not add ${grant.principal} to ${where}`,
        remove: `Could not remove ${grant.principal} from ${where}`,
        check: `Could not check ${grant.principal} in ${where}`,
      }[action];
      return failed(error, context);
    }
  }

  #groupFor(role: string): ProviderResult<string> {
    const group = Object.hasOwn(this.#roles, role) ? this.#roles[role] : this.#usergroup;
    if (group === undefined) {
      return {
        ok: false,
        failure: {
          kind: 'permanent',
          message: `Role "${role}" has no Slack user group: map it under the provider's settings.roles, or set settings.usergroup`,
        },
      };
    }
    return ok(group);
  }

  /** The member list's read, write and read-back run holding the group's lock (see TargetLocks). */
  async #locked<T>(group: string, work: () => Promise<T>): Promise<T> {
    const key = `slack-usergroup:${await this.#teamId()}:${group}`;
    try {
      return await this.#locks.withLock(key, work);
    } catch (error) {
      if (!(error instanceof TargetLockUnavailable)) throw error;
      throw new OperationFailed({ kind: 'transient', message: `another change to the group did not finish in time, nothing was changed (${error.message})` });
    }
  }

  /**
   * The workspace's id, from auth.test. Group ids are unique within a workspace; with the team in
   * the key, two deployments for two workspaces that share a database never wait on each other.
   */
  #teamId(): Promise<string> {
    if (this.#team) return this.#team;
    const asked = this.#call('auth.test', () => this.#client.auth.test()).then((answer) => {
      if (typeof answer.team_id !== 'string' || answer.team_id === '') throw new Error("Slack's auth.test answered without a team_id");
      return answer.team_id;
    });
    this.#team = asked;
    // A failure is not kept: the next change asks again.
    asked.catch(() => {
      if (this.#team === asked) this.#team = undefined;
    });
    return asked;
  }

  async #add(group: string, user: string): Promise<void> {
    const before = await this.#read(group);
    // Read holding the lock: no other Latch change can be between this read and now.
    if (holders(before).includes(user)) return;
    if (before.disabled) {
      // Whoever the disabled group still lists had their access removed by disabling it: the
      // new list holds only `user`, and is written before the group is enabled again.
      if (before.members.length !== 1 || before.members[0] !== user) await this.#update(group, [user]);
      await this.#setEnabled(group, true);
      await this.#verify(group, [user]);
    } else {
      const intended = [...before.members, user];
      await this.#update(group, intended);
      await this.#verify(group, intended);
    }
  }

  async #remove(group: string, user: string): Promise<void> {
    const before = await this.#read(group);
    // Not a holder, read holding the lock: verified gone.
    if (!holders(before).includes(user)) return;
    const rest = before.members.filter((member) => member !== user);
    // Slack refuses an empty member list: a group without members is a disabled group.
    if (rest.length > 0) await this.#update(group, rest);
    else await this.#setEnabled(group, false);
    await this.#verify(group, rest);
  }

  /**
   * Asks Slack who `user` is right before adding them: an account deactivated, or a bot or an
   * app's user, since the request was made is refused (permanently: trying again cannot help).
   */
  async #requireActivePerson(user: string): Promise<void> {
    const response = await this.#call('users.info', () => this.#client.users.info({ user }));
    const account = response.user;
    const why = account?.deleted !== false ? 'a deactivated account' : account.is_bot !== false || account.is_app_user === true ? 'a bot or an app' : null;
    if (why) throw new OperationFailed({ kind: 'permanent', message: `${user} is ${why}, not an active person of the workspace` });
  }

  /**
   * Reads the group back and checks that it holds exactly `intended`: the change is there and
   * nobody else was added or removed meanwhile. A difference is a transient failure, so the job
   * retries (and the retry reads the group afresh); a revocation is recorded only once verified.
   */
  async #verify(group: string, intended: readonly string[]): Promise<void> {
    const now = holders(await this.#read(group));
    const missing = intended.filter((member) => !now.includes(member));
    const extra = now.filter((member) => !intended.includes(member));
    if (missing.length === 0 && extra.length === 0) return;
    const named = (ids: string[]) => ids.slice(0, NAMED_IN_MISMATCH).join(', ') + (ids.length > NAMED_IN_MISMATCH ? ` and ${ids.length - NAMED_IN_MISMATCH} more` : '');
    const differences = [
      ...(missing.length > 0 ? [`missing ${named(missing)}`] : []),
      ...(extra.length > 0 ? [`also holding ${named(extra)}`] : []),
    ];
    throw new OperationFailed({
      kind: 'transient',
      message: `Slack user group ${group} changed while Latch was editing it (read back ${differences.join('; ')}); trying again settles it`,
    });
  }

  async #read(group: string): Promise<GroupState> {
    const members = await this.#members(group);
    return { members, disabled: await this.#isDisabled(group) };
  }

  /** The group's member list as Slack holds it, also for a disabled group. */
  async #members(group: string): Promise<string[]> {
    const response = await this.#call('usergroups.users.list', () =>
      this.#client.usergroups.users.list({ usergroup: group, include_disabled: true }),
    );
    return response.users ?? [];
  }

  /** Whether the group is disabled: `usergroups.list` is the only method that says (`date_delete`). */
  async #isDisabled(group: string): Promise<boolean> {
    const response = await this.#call('usergroups.list', () => this.#client.usergroups.list({ include_disabled: true }));
    const found = response.usergroups?.find((candidate) => candidate.id === group);
    if (!found) {
      throw new OperationFailed({ kind: 'permanent', message: `Slack's usergroups.list does not show user group ${group}` });
    }
    return (found.date_delete ?? 0) !== 0;
  }

  async #update(group: string, users: string[]): Promise<void> {
    await this.#call('usergroups.users.update', () => this.#client.usergroups.users.update({ usergroup: group, users: users.join(',') }));
  }

  async #setEnabled(group: string, enabled: boolean): Promise<void> {
    const method = enabled ? 'usergroups.enable' : 'usergroups.disable';
    await this.#call(method, async () => {
      try {
        await (enabled ? this.#client.usergroups.enable({ usergroup: group }) : this.#client.usergroups.disable({ usergroup: group }));
      } catch (error) {
        // Slack has been seen answering `already_enabled` / `already_disabled`: the state we want.
        if (error instanceof WebAPIPlatformError && error.data.error === (enabled ? 'already_enabled' : 'already_disabled')) return;
        throw error;
      }
    });
  }

  /** One Slack call: a Slack error becomes an `OperationFailed`; anything else is a bug, rethrown as it is. */
  async #call<T>(method: UsergroupMethod, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      const failure = slackFailure(error, method);
      if (failure) throw new OperationFailed(failure);
      throw error;
    }
  }

  /** Runs `work` after every change already queued for `group` in this process has finished. */
  #exclusive<T>(group: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#queues.get(group) ?? Promise.resolve();
    const result = previous.then(work);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.#queues.set(group, tail);
    void tail.then(() => {
      if (this.#queues.get(group) === tail) this.#queues.delete(group);
    });
    return result;
  }
}

/** An `OperationFailed` as a result, its message led by what was being done; rethrows anything else. */
function failed(error: unknown, context: string): { ok: false; failure: ProviderFailure } {
  if (!(error instanceof OperationFailed)) throw error;
  return { ok: false, failure: { kind: error.failure.kind, message: `${context}: ${error.failure.message}` } };
}

/** The Web API base URL: Slack's own unless SLACK_API_URL points elsewhere (tests, a sandbox). */
function apiUrlFrom(value: string | undefined): { ok: true; url: string | undefined } | { ok: false; problem: string } {
  if (value === undefined || value.trim() === '') return { ok: true, url: undefined };
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    return { ok: false, problem: 'SLACK_API_URL: must be an http:// or https:// URL such as https://slack.com/api/' };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return { ok: false, problem: 'SLACK_API_URL: must be an http:// or https:// URL such as https://slack.com/api/' };
  }
  // The client joins method names onto the base, so it must end with a slash.
  const text = url.toString();
  return { ok: true, url: text.endsWith('/') ? text : `${text}/` };
}

/**
 * Builds the provider from its policy settings, with its own Web API client on SLACK_BOT_TOKEN.
 * The client neither retries nor waits out rate limits (by default it would, for up to half an
 * hour, with the job's lock held): a 429 is a transient result at once, and Latch's jobs retry.
 */
export const createSlackUsergroupProvider: ProviderFactory = (settings, env, services) => {
  const problems: string[] = [];
  const parsed = parseProviderSettings(slackUsergroupSettingsSchema, settings, 'slack-usergroup');
  if (!parsed.ok) problems.push(...parsed.problems);
  const token = env.SLACK_BOT_TOKEN;
  if (token === undefined || token.trim() === '') {
    problems.push("SLACK_BOT_TOKEN is not set: the slack-usergroup provider edits user groups with the Slack app's bot token (starts with xoxb-)");
  }
  const apiUrl = apiUrlFrom(env.SLACK_API_URL);
  if (!apiUrl.ok) problems.push(apiUrl.problem);
  // Without the lock, two workers editing one group can write a revoked person back.
  const locks = services?.locks;
  if (!locks) problems.push('the slack-usergroup provider needs the lock Latch keeps in PostgreSQL, and was built without it');
  if (!parsed.ok || !apiUrl.ok || token === undefined || !locks || problems.length > 0) return { ok: false, problems };

  const client = new WebClient(token, {
    ...(apiUrl.url ? { slackApiUrl: apiUrl.url } : {}),
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    timeout: SLACK_CALL_TIMEOUT_MS,
    // Failures come back as results with their reason; the client's own console lines add nothing.
    logLevel: LogLevel.ERROR,
  });
  return { ok: true, provider: new SlackUsergroupProvider({ client, usergroup: parsed.settings.usergroup, roles: parsed.settings.roles, locks }) };
};
