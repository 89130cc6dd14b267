import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isTrue, Workspace, type SlackResult } from './workspace.ts';

/**
 * A fake of Slack's Web API on loopback. It records every call, answers the way Slack answers
 * (HTTP 200 with `ok: true|false`; HTTP 429 with `Retry-After` when rate limited), checks the
 * bearer token, and enforces the Block Kit limits Slack itself enforces, so a message Slack would
 * refuse is refused here too. Point the app at it with SLACK_API_URL=fake.apiUrl.
 *
 * User groups behave as Slack's do: a group the fake was not told about (`addUsergroup`,
 * `setUsergroupMembers`) is `no_such_subteam`, a member list cannot be emptied (`invalid_users`),
 * and a disabled group keeps its members but is listed only with `include_disabled`.
 *
 * Messages and views are kept in a `Workspace` (chat.update edits the message posted, views.update
 * the view opened), which the local Slack sandbox shows on its page. Tests use it lenient (the
 * default); the sandbox makes it `strict`, answering as a real workspace would.
 */

export interface FakeSlackCall {
  method: string;
  /** The call's arguments, JSON-decoded where Slack expects JSON (blocks, view, …). */
  args: Record<string, unknown>;
  token: string | undefined;
  at: Date;
}

export interface FakeSlackUser {
  id: string;
  name: string;
  /** Shown in profiles and mentions; `name` when absent. */
  realName?: string;
  email?: string;
  tz?: string;
  isBot?: boolean;
  /** An app's user (`is_app_user`). */
  isAppUser?: boolean;
  /** Deactivated (`deleted`). */
  deleted?: boolean;
  /** A multi-channel guest (`is_restricted`). */
  isRestricted?: boolean;
  /** A single-channel guest (`is_ultra_restricted`, which Slack sends with `is_restricted` true). */
  isUltraRestricted?: boolean;
  /** `is_email_confirmed`; true unless the test says otherwise. */
  emailConfirmed?: boolean;
  /** The user's own team, for a Slack Connect user of another organisation; the fake's team by default. */
  teamId?: string;
}

export interface FakeSlackChannel {
  id: string;
  name: string;
}

/** One Web API call with Slack's answer to it (HTTP 200 bodies; a scripted HTTP error as its body). */
export interface FakeSlackAnswer {
  call: FakeSlackCall;
  status: number;
  body: unknown;
}

/** A scripted reply: a Slack body (sent with HTTP 200), or a whole HTTP response. */
export type FakeSlackReply =
  | Record<string, unknown>
  | { status: number; headers?: Record<string, string>; body?: unknown };

type Responder = (call: FakeSlackCall) => FakeSlackReply | undefined;

/** A user group as the fake holds it. A disabled group keeps its members, as Slack does. */
export interface FakeSlackUsergroup {
  id: string;
  users: string[];
  disabled: boolean;
  name: string;
  handle: string;
}

export interface FakeSlackOptions {
  /** Tokens the fake accepts; any other gets `invalid_auth`. */
  botToken?: string;
  teamId?: string;
  botUserId?: string;
  /** The bot's own id (B…), which auth.test names and bots.info describes. */
  botId?: string;
  users?: FakeSlackUser[];
  channels?: FakeSlackChannel[];
  appId?: string;
  /**
   * Answer as a real workspace does (unknown channels, messages and views, trigger_ids not issued
   * by `issueTrigger`, expired or used twice); tests leave it off and post anywhere.
   */
  strict?: boolean;
  /** How long an issued trigger_id can open a modal: Slack's 3 s by default. */
  triggerLifetimeMs?: number;
}

// Slack's documented limits (see shared/PITFALLS.md).
const MAX_MESSAGE_BLOCKS = 50;
const MAX_VIEW_BLOCKS = 100;
const MAX_TEXT_LENGTH = 40_000;
const MAX_SECTION_TEXT = 3_000;

const JSON_ARGUMENTS = new Set(['blocks', 'attachments', 'view', 'metadata', 'users', 'user_ids']);

export class FakeSlack extends EventEmitter<{ answer: [FakeSlackAnswer] }> {
  readonly calls: FakeSlackCall[] = [];
  readonly botToken: string;
  readonly teamId: string;
  readonly botUserId: string;
  readonly botId: string;
  readonly appId: string;
  readonly workspace: Workspace;
  private readonly users = new Map<string, FakeSlackUser>();
  private readonly channels = new Map<string, FakeSlackChannel>();
  private readonly scripted = new Map<string, Responder[]>();
  private readonly overrides = new Map<string, Responder>();
  private readonly waiters: Array<{ method: string; predicate: (call: FakeSlackCall) => boolean; resolve(call: FakeSlackCall): void }> = [];
  private readonly usergroups = new Map<string, FakeSlackUsergroup>();
  private socketMode: { appToken: string; connectionUrl: () => string } | null = null;
  private readonly slowdowns: Array<{ method: string; ms: number; when: (call: FakeSlackCall) => boolean }> = [];
  private readonly holds: Array<{ method: string; when: (call: FakeSlackCall) => boolean; released: Promise<void>; release(): void }> = [];
  private server: Server | undefined;
  private baseUrl = '';
  private readonly strict: boolean;

  private constructor(options: FakeSlackOptions) {
    super();
    this.botToken = options.botToken ?? 'xoxb-fake-bot-token';
    this.teamId = options.teamId ?? 'T0FAKE';
    this.botUserId = options.botUserId ?? 'U0LATCHBOT';
    this.botId = options.botId ?? 'B0LATCHBOT';
    this.appId = options.appId ?? 'A0LATCH';
    this.strict = options.strict ?? false;
    for (const user of options.users ?? []) this.users.set(user.id, user);
    for (const channel of options.channels ?? []) this.channels.set(channel.id, channel);
    this.workspace = new Workspace({
      strict: options.strict ?? false,
      botUserId: this.botUserId,
      teamId: this.teamId,
      appId: this.appId,
      triggerLifetimeMs: options.triggerLifetimeMs ?? 3_000,
      channelIds: () => this.channels.keys(),
      userIds: () => this.users.keys(),
    });
  }

  /** A fake on a loopback port of its own. */
  static async start(options: FakeSlackOptions = {}): Promise<FakeSlack> {
    const fake = new FakeSlack(options);
    const server = createServer((req, res) => void fake.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    fake.server = server;
    fake.servedAt(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return fake;
  }

  /** A fake without a server: whoever serves `handle` says where with `servedAt` (the sandbox). */
  static create(options: FakeSlackOptions = {}): FakeSlack {
    return new FakeSlack(options);
  }

  /** The origin `handle` is reachable at, such as `http://127.0.0.1:8080`. */
  servedAt(origin: string): void {
    this.baseUrl = origin.replace(/\/$/, '');
  }

  /** Base URL for the Web API client (`slackApiUrl`), ending with a slash. */
  get apiUrl(): string {
    return `${this.baseUrl}/api/`;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  user(id: string): FakeSlackUser | undefined {
    return this.users.get(id);
  }

  listUsers(): FakeSlackUser[] {
    return [...this.users.values()];
  }

  addChannel(channel: FakeSlackChannel): void {
    this.channels.set(channel.id, channel);
  }

  channel(id: string): FakeSlackChannel | undefined {
    return this.channels.get(id);
  }

  listChannels(): FakeSlackChannel[] {
    return [...this.channels.values()];
  }

  listUsergroups(): FakeSlackUsergroup[] {
    return [...this.usergroups.values()].map((group) => ({ ...group, users: [...group.users] }));
  }

  /** Calls made to one method, in order. */
  callsTo(method: string): FakeSlackCall[] {
    return this.calls.filter((call) => call.method === method);
  }

  addUser(user: FakeSlackUser): void {
    this.users.set(user.id, user);
  }

  /** Answers the next call to `method` with `reply`, once; queued replies are used in order. */
  replyOnce(method: string, reply: FakeSlackReply | Responder): void {
    const responder: Responder = typeof reply === 'function' ? reply : () => reply;
    this.scripted.set(method, [...(this.scripted.get(method) ?? []), responder]);
  }

  /** Answers every call to `method` with `reply` until `reset()`. */
  replyAlways(method: string, reply: FakeSlackReply | Responder): void {
    this.overrides.set(method, typeof reply === 'function' ? reply : () => reply);
  }

  /** The next call to `method` fails the way Slack fails: HTTP 200, `ok: false`, `error`. */
  failOnce(method: string, error: string): void {
    this.replyOnce(method, { ok: false, error });
  }

  /** The next call to `method` is rate limited: HTTP 429 with `Retry-After` in seconds. */
  rateLimitOnce(method: string, retryAfterSeconds: number): void {
    this.replyOnce(method, {
      status: 429,
      headers: { 'retry-after': String(retryAfterSeconds) },
      body: { ok: false, error: 'ratelimited' },
    });
  }

  /**
   * Answers apps.connections.open for `appToken` with a URL from `connectionUrl` (the fake Socket
   * Mode server's), as Slack does for an app with Socket Mode on. Any other token is refused the
   * way Slack refuses it: a bot token is `not_allowed_token_type`, anything else `invalid_auth`.
   */
  acceptSocketMode(appToken: string, connectionUrl: () => string): void {
    this.socketMode = { appToken, connectionUrl };
  }

  /** Answers calls to `method` (those `when` accepts) only after `ms`, as a slow Slack does; until reset(). */
  slowDown(method: string, ms: number, when: (call: FakeSlackCall) => boolean = () => true): void {
    this.slowdowns.push({ method, ms, when });
  }

  /**
   * Answers the calls to `method` that `when` accepts only once the returned function is called,
   * as a Slack that is slow for exactly as long as a test needs; until reset(), which releases them.
   */
  hold(method: string, when: (call: FakeSlackCall) => boolean = () => true): () => void {
    let release = () => undefined as void;
    const released = new Promise<void>((resolve) => (release = resolve));
    this.holds.push({ method, when, released, release });
    return release;
  }

  /** Forgets scripted replies, slowdowns, holds (answering what they held) and recorded calls. */
  reset(): void {
    this.calls.length = 0;
    this.scripted.clear();
    this.overrides.clear();
    this.slowdowns.length = 0;
    for (const held of this.holds.splice(0)) held.release();
  }

  /** Resolves with the first call to `method` (already made or still to come) that matches. */
  waitForCall(method: string, predicate: (call: FakeSlackCall) => boolean = () => true, timeoutMs = 10_000): Promise<FakeSlackCall> {
    const seen = this.calls.find((call) => call.method === method && predicate(call));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const made = this.calls.map((call) => call.method).join(', ') || 'none';
        reject(new Error(`no matching ${method} call within ${timeoutMs} ms (calls made: ${made})`));
      }, timeoutMs);
      this.waiters.push({
        method,
        predicate,
        resolve: (call) => {
          clearTimeout(timer);
          resolve(call);
        },
      });
    });
  }

  /**
   * A `response_url` for a slash command or interaction payload. What Latch posts to it is
   * recorded as a call to the pseudo-method `response_url`, with `id` among its arguments, and
   * `from: 'ack'` when it was the answer in the app's ack, shown by Slack the same way.
   */
  responseUrl(id: string): string {
    return `${this.baseUrl}/response/${encodeURIComponent(id)}`;
  }

  /** Whether `handle` answers this path: the Web API (`/api/…`) and response URLs (`/response/…`). */
  static serves(path: string): boolean {
    return path.startsWith('/api/') || path.startsWith('/response/');
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const response = /^\/response\/([^/?]+)(\?from=ack)?$/.exec(req.url ?? '');
    if (response && req.method === 'POST') {
      const id = decodeURIComponent(response[1]!);
      // `from=ack`: an answer the app put in its ack, which Slack shows as if posted here (a test's SlackSender hands it over).
      const args = { ...parseArguments(await readBody(req), req.headers['content-type']), id, ...(response[2] ? { from: 'ack' } : {}) };
      const call: FakeSlackCall = { method: 'response_url', args, token: undefined, at: new Date() };
      this.record(call);
      const answer = this.workspace.respond(id, args) ?? { ok: true };
      // Slack answers a used-up or expired response_url with an HTTP error.
      const status = answer.ok ? 200 : 404;
      send(res, status, answer);
      this.emit('answer', { call, status, body: answer });
      return;
    }
    const match = /^\/api\/([a-zA-Z.]+)$/.exec(new URL(req.url ?? '/', 'http://fake').pathname);
    if (!match || req.method !== 'POST') {
      send(res, 404, { ok: false, error: 'unknown_method' });
      return;
    }
    const args = parseArguments(await readBody(req), req.headers['content-type']);
    // Slack takes the token as a bearer header or as a `token` argument.
    const token = bearerToken(req) ?? (typeof args.token === 'string' ? args.token : undefined);
    const call: FakeSlackCall = { method: match[1]!, args, token, at: new Date() };
    this.record(call);
    const slow = this.slowdowns.find((rule) => rule.method === call.method && rule.when(call));
    if (slow) await new Promise((resolve) => setTimeout(resolve, slow.ms));
    const held = this.holds.find((rule) => rule.method === call.method && rule.when(call));
    if (held) await held.released;
    const reply = this.scriptedReply(call) ?? this.defaultReply(call);
    if ('status' in reply && typeof reply.status === 'number') {
      send(res, reply.status, reply.body ?? {}, reply.headers as Record<string, string> | undefined);
      this.emit('answer', { call, status: reply.status, body: reply.body ?? {} });
    } else {
      send(res, 200, reply);
      this.emit('answer', { call, status: 200, body: reply });
    }
  }

  private record(call: FakeSlackCall): void {
    this.calls.push(call);
    for (const waiter of [...this.waiters]) {
      if (waiter.method === call.method && waiter.predicate(call)) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve(call);
      }
    }
  }

  private scriptedReply(call: FakeSlackCall): FakeSlackReply | undefined {
    const queue = this.scripted.get(call.method);
    const once = queue?.shift();
    if (once) return once(call);
    return this.overrides.get(call.method)?.(call);
  }

  private defaultReply(call: FakeSlackCall): Record<string, unknown> {
    if (!call.token) return { ok: false, error: 'not_authed' };
    if (call.method === 'apps.connections.open') return this.openConnection(call.token);
    if (call.token !== this.botToken) return { ok: false, error: 'invalid_auth' };
    const args = call.args;
    switch (call.method) {
      case 'auth.test':
        return { ok: true, url: 'https://fake.slack.com/', team: 'Fake Team', user: 'latch', team_id: this.teamId, user_id: this.botUserId, bot_id: this.botId, is_enterprise_install: false };
      case 'bots.info':
        // Slack describes any bot of the workspace; the fake knows only its own.
        if (args.bot !== this.botId) return { ok: false, error: 'bot_not_found' };
        return { ok: true, bot: { id: this.botId, deleted: false, name: 'latch', updated: 1_700_000_000, app_id: this.appId, user_id: this.botUserId, icons: {} } };
      case 'chat.postMessage': {
        if (!args.text && !args.blocks && !args.attachments) return args.channel ? { ok: false, error: 'no_text' } : { ok: false, error: 'channel_not_found' };
        return this.checkedMessage(args) ?? this.workspace.postMessage(args);
      }
      case 'chat.update':
        return this.checkedMessage(args) ?? this.workspace.update(args);
      case 'chat.postEphemeral':
        return this.checkedMessage(args) ?? this.workspace.postEphemeral(args);
      case 'conversations.open': {
        const users = String(args.users ?? '');
        if (!users) return { ok: false, error: 'users_list_not_supplied' };
        return { ok: true, channel: { id: Workspace.dmChannelOf(users.split(',')[0]!) } };
      }
      case 'conversations.info': {
        const id = String(args.channel ?? '');
        const channel = this.channels.get(id);
        const dmUser = Workspace.dmUserOf(id);
        if (channel) return { ok: true, channel: { id, name: channel.name, is_channel: true, is_member: true } };
        if (dmUser && this.users.has(dmUser)) return { ok: true, channel: { id, is_im: true, user: dmUser } };
        return { ok: false, error: 'channel_not_found' };
      }
      case 'views.open':
      case 'views.push':
      case 'views.update':
      case 'views.publish': {
        const view = args.view as { blocks?: unknown } | undefined;
        if (!view || typeof view !== 'object') return { ok: false, error: 'invalid_arguments' };
        if (call.method !== 'views.publish' && call.method !== 'views.update' && !args.trigger_id && !args.interactivity_pointer) {
          return { ok: false, error: 'invalid_arguments' };
        }
        const problem = blocksProblem(view.blocks, MAX_VIEW_BLOCKS);
        if (problem) return { ok: false, error: problem };
        const workspace = this.workspace;
        const method = { 'views.open': workspace.openView, 'views.push': workspace.pushView, 'views.update': workspace.updateView, 'views.publish': workspace.publishView }[call.method];
        return method.call(workspace, args);
      }
      case 'users.info': {
        const user = this.users.get(String(args.user)) ?? this.implicitUser(String(args.user));
        if (!user) return { ok: false, error: 'user_not_found' };
        return { ok: true, user: this.userObject(user) };
      }
      case 'users.list':
        return { ok: true, members: [...this.users.values()].map((user) => this.userObject(user)), response_metadata: { next_cursor: '' } };
      case 'usergroups.list':
        return {
          ok: true,
          usergroups: [...this.usergroups.values()]
            .filter((group) => !group.disabled || isTrue(args.include_disabled))
            .map((group) => this.usergroupObject(group, { users: isTrue(args.include_users), count: isTrue(args.include_count) })),
        };
      case 'usergroups.users.list': {
        const group = this.usergroups.get(String(args.usergroup));
        // Slack answers for a disabled group only when asked to (`include_disabled`). Which error
        // it gives otherwise is not documented; the fake says the group is not there.
        if (!group || (group.disabled && !isTrue(args.include_disabled))) return { ok: false, error: 'no_such_subteam' };
        return { ok: true, users: [...group.users] };
      }
      case 'usergroups.users.update': {
        const group = this.usergroups.get(String(args.usergroup));
        if (!group) return { ok: false, error: 'no_such_subteam' };
        // Slack's `users` is the whole new member list; an empty or malformed one is `invalid_users`
        // (Slack cannot empty a group: disable it instead).
        const users = String(args.users ?? '').split(',').map((user) => user.trim());
        if (users.length === 0 || users.some((user) => !SLACK_USER_ID.test(user))) return { ok: false, error: 'invalid_users' };
        group.users = [...new Set(users)];
        return { ok: true, usergroup: this.usergroupObject(group, { users: true, count: isTrue(args.include_count) }) };
      }
      case 'usergroups.enable':
      case 'usergroups.disable': {
        const group = this.usergroups.get(String(args.usergroup));
        if (!group) return { ok: false, error: 'no_such_subteam' };
        group.disabled = call.method === 'usergroups.disable';
        return { ok: true, usergroup: this.usergroupObject(group, { users: false, count: isTrue(args.include_count) }) };
      }
      default:
        return { ok: false, error: 'unknown_method' };
    }
  }

  /** apps.connections.open takes only an app-level token (xapp-), never the bot token. */
  private openConnection(token: string): Record<string, unknown> {
    if (token.startsWith('xoxb-') || token.startsWith('xoxp-')) return { ok: false, error: 'not_allowed_token_type' };
    if (!this.socketMode || token !== this.socketMode.appToken) return { ok: false, error: 'invalid_auth' };
    return { ok: true, url: this.socketMode.connectionUrl() };
  }

  /** Sets a user group's members, as if changed in Slack; creates the group (enabled) if it is new. */
  setUsergroupMembers(usergroup: string, users: string[]): void {
    const group = this.usergroups.get(usergroup);
    if (group) group.users = [...users];
    else this.addUsergroup(usergroup, { users });
  }

  /**
   * Creates (or replaces) a user group, as if made in Slack: empty unless `users` are given, enabled
   * unless `disabled`. A group the fake was never told about is `no_such_subteam`, as in Slack.
   */
  addUsergroup(id: string, options: { users?: string[]; disabled?: boolean; name?: string; handle?: string } = {}): void {
    const handle = options.handle ?? id.toLowerCase();
    this.usergroups.set(id, { id, users: [...(options.users ?? [])], disabled: options.disabled ?? false, name: options.name ?? handle, handle });
  }

  /** A user group's state now (a copy), or undefined when there is no such group. */
  usergroup(id: string): FakeSlackUsergroup | undefined {
    const group = this.usergroups.get(id);
    return group && { ...group, users: [...group.users] };
  }

  /** A group in the shape of Slack's usergroup object; `date_delete` is non-zero while it is disabled. */
  private usergroupObject(group: FakeSlackUsergroup, include: { users: boolean; count: boolean }): Record<string, unknown> {
    return {
      id: group.id,
      team_id: this.teamId,
      is_usergroup: true,
      name: group.name,
      handle: group.handle,
      description: '',
      date_create: 1_700_000_000,
      date_update: 1_700_000_000,
      date_delete: group.disabled ? 1_700_000_100 : 0,
      prefs: { channels: [], groups: [] },
      ...(include.users ? { users: [...group.users] } : {}),
      ...(include.count ? { user_count: String(group.users.length) } : {}),
    };
  }

  /** Slack's limits on a message, checked before it is posted or edited. */
  private checkedMessage(args: Record<string, unknown>): SlackResult | undefined {
    if (!args.channel) return { ok: false, error: 'channel_not_found' };
    const problem = blocksProblem(args.blocks, MAX_MESSAGE_BLOCKS) ?? textProblem(args.text);
    return problem ? { ok: false, error: problem } : undefined;
  }

  /**
   * Lenient (the tests' default, which post anywhere too): a user id nobody added is a plain member
   * without an email, as every person who can send Latch a command is in a real workspace. Strict
   * (the sandbox): Slack's `user_not_found`.
   */
  private implicitUser(id: string): FakeSlackUser | undefined {
    if (this.strict || !SLACK_USER_ID.test(id)) return undefined;
    return { id, name: id.toLowerCase() };
  }

  /**
   * A user in the shape of Slack's user object: the profile identity templates read, and the facts
   * that decide whether the account is a person of this workspace (members by default).
   */
  private userObject(user: FakeSlackUser): Record<string, unknown> {
    const realName = user.realName ?? user.name;
    const ultraRestricted = user.isUltraRestricted ?? false;
    return {
      id: user.id,
      team_id: user.teamId ?? this.teamId,
      name: user.name,
      real_name: realName,
      deleted: user.deleted ?? false,
      is_bot: user.isBot ?? false,
      is_app_user: user.isAppUser ?? false,
      is_admin: false,
      is_owner: false,
      is_primary_owner: false,
      is_restricted: (user.isRestricted ?? false) || ultraRestricted,
      is_ultra_restricted: ultraRestricted,
      is_email_confirmed: user.emailConfirmed ?? true,
      tz: user.tz ?? 'UTC',
      profile: { email: user.email, real_name: realName, display_name: user.name },
    };
  }
}

// Loose on length: tests use short ids such as U1.
const SLACK_USER_ID = /^[UW][A-Z0-9]+$/;

function textProblem(text: unknown): string | undefined {
  return typeof text === 'string' && text.length > MAX_TEXT_LENGTH ? 'msg_too_long' : undefined;
}

function blocksProblem(blocks: unknown, maxBlocks: number): string | undefined {
  if (blocks === undefined) return undefined;
  if (!Array.isArray(blocks)) return 'invalid_blocks_format';
  if (blocks.length > maxBlocks) return 'invalid_blocks';
  for (const block of blocks as Array<{ type?: string; text?: { text?: string } }>) {
    if (!block || typeof block.type !== 'string') return 'invalid_blocks';
    if (block.type === 'section' && (block.text?.text?.length ?? 0) > MAX_SECTION_TEXT) return 'invalid_blocks';
  }
  return undefined;
}

function bearerToken(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  return header?.startsWith('Bearer ') ? header.slice('Bearer '.length) : undefined;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Slack accepts form-encoded or JSON bodies; JSON-valued form fields arrive as JSON text. */
function parseArguments(body: string, contentType: string | undefined): Record<string, unknown> {
  if (!body) return {};
  if (contentType?.includes('application/json')) return JSON.parse(body) as Record<string, unknown>;
  const args: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(body)) {
    args[key] = JSON_ARGUMENTS.has(key) && /^[[{]/.test(value) ? JSON.parse(value) : value;
  }
  return args;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(JSON.stringify(body));
}
