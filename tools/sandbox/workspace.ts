import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';

/**
 * What a Slack workspace holds between Web API calls: messages by channel (ephemeral ones with the
 * one person who sees them), each person's modal stack and App Home, and the trigger_ids and
 * response_urls Slack hands to an app. The fake Web API answers from it, and the sandbox page shows
 * it. Every change is announced (`change`), so the page can follow live.
 *
 * Lenient (the tests' default) it accepts what a test sends without context: a trigger_id it never
 * issued, a chat.update of a message it never saw, any channel. Strict (the sandbox) it answers as
 * a real workspace does: `trigger_expired`/`trigger_exchanged`, `message_not_found`,
 * `channel_not_found`, `hash_conflict`, `push_limit_reached`.
 */

export type StateValues = Record<string, Record<string, Record<string, unknown>>>;

export interface StoredMessage {
  /** The channel as stored: DMs under `D<user id>`, whichever id the app posted to. */
  channel: string;
  ts: string;
  text: string;
  blocks?: unknown[];
  attachments?: unknown[];
  /** Who posted it: the app's bot user, or a person typing in the sandbox. */
  user: string;
  threadTs?: string;
  replyBroadcast?: boolean;
  /** Set on an ephemeral message: only this person sees it, and it is never stored by Slack. */
  visibleTo?: string;
  edited?: boolean;
}

export interface StoredView {
  id: string;
  type: 'modal' | 'home';
  /** Whose screen it is on; unknown when a lenient workspace got a trigger it never issued. */
  userId: string | undefined;
  /** The view as the app last sent it. */
  view: Record<string, unknown>;
  hash: string;
  /** What the person has typed and picked so far, in Slack's `view.state.values` shape. */
  state: { values: StateValues };
  rootViewId: string;
  previousViewId: string | null;
  externalId: string | null;
  /** The app's last `response_action: errors`, by block_id, shown under those inputs. */
  errors: Record<string, string>;
}

export type WorkspaceChange =
  | { kind: 'message'; channel: string; ts: string }
  | { kind: 'modal'; userId: string }
  | { kind: 'home'; userId: string };

export type SlackResult = { ok: true; [key: string]: unknown } | { ok: false; error: string; [key: string]: unknown };

/** Where a response_url's messages go: the conversation a command or click came from. */
export interface ResponseTarget {
  userId: string;
  channel: string;
  /** The message clicked, for replace_original and delete_original. */
  messageTs?: string;
}

/** Slack's modal stack holds at most three views. */
const MAX_MODAL_STACK = 3;
/** response_url: five uses within thirty minutes. */
const RESPONSE_URL_USES = 5;
const RESPONSE_URL_LIFETIME_MS = 30 * 60_000;

export interface WorkspaceOptions {
  strict: boolean;
  botUserId: string;
  teamId: string;
  appId: string;
  /** How long a trigger_id may be exchanged for a modal (Slack: 3 s). */
  triggerLifetimeMs: number;
  /** Channel ids that exist, besides each user's DM; consulted only when strict. */
  channelIds?: () => Iterable<string>;
  userIds?: () => Iterable<string>;
}

export class Workspace extends EventEmitter<{ change: [WorkspaceChange] }> {
  private readonly messages = new Map<string, StoredMessage[]>();
  private readonly views = new Map<string, StoredView>();
  private readonly modalStacks = new Map<string, string[]>();
  private readonly homes = new Map<string, string>();
  private readonly triggers = new Map<string, { userId: string; expiresAt: number; used: boolean }>();
  private readonly responseUrls = new Map<string, ResponseTarget & { uses: number; expiresAt: number }>();
  private nextTs = 1_700_000_000_000_100;
  private nextViewId = 1;

  constructor(readonly options: WorkspaceOptions) {
    super();
  }

  /** A DM is stored under `D<user id>`, whether the app posted to the user id or to the DM. */
  static dmChannelOf(userId: string): string {
    return `D${userId}`;
  }

  /** The person a DM channel belongs to, or undefined for any other channel. */
  static dmUserOf(channel: string): string | undefined {
    return /^D[UW][A-Z0-9]+$/.test(channel) ? channel.slice(1) : undefined;
  }

  canonicalChannel(channel: string): string {
    return /^[UW][A-Z0-9]+$/.test(channel) ? Workspace.dmChannelOf(channel) : channel;
  }

  private channelProblem(channel: unknown): string | undefined {
    if (typeof channel !== 'string' || channel === '') return 'channel_not_found';
    if (!this.options.strict) return undefined;
    const canonical = this.canonicalChannel(channel);
    const dmUser = Workspace.dmUserOf(canonical);
    if (dmUser) return new Set(this.options.userIds?.() ?? []).has(dmUser) ? undefined : 'channel_not_found';
    return new Set(this.options.channelIds?.() ?? []).has(canonical) ? undefined : 'channel_not_found';
  }

  /** A message ts: unique and increasing; the time it was posted when strict, as in Slack. */
  newTs(): string {
    if (this.options.strict) this.nextTs = Math.max(this.nextTs, Date.now() * 1000);
    const micros = this.nextTs++;
    return `${Math.floor(micros / 1_000_000)}.${String(micros % 1_000_000).padStart(6, '0')}`;
  }

  // ---- messages -------------------------------------------------------------------------------

  postMessage(args: Record<string, unknown>, poster = this.options.botUserId): SlackResult {
    const problem = this.channelProblem(args.channel);
    if (problem) return { ok: false, error: problem };
    const channel = this.canonicalChannel(String(args.channel));
    const threadTs = typeof args.thread_ts === 'string' && args.thread_ts !== '' ? args.thread_ts : undefined;
    if (threadTs && this.options.strict && !this.message(channel, threadTs)) return { ok: false, error: 'thread_not_found' };
    const message = this.store({
      channel,
      ts: this.newTs(),
      text: typeof args.text === 'string' ? args.text : '',
      ...(Array.isArray(args.blocks) ? { blocks: args.blocks } : {}),
      ...(Array.isArray(args.attachments) ? { attachments: args.attachments } : {}),
      user: poster,
      ...(threadTs ? { threadTs, replyBroadcast: args.reply_broadcast === true || args.reply_broadcast === 'true' } : {}),
    });
    // Slack answers a DM posted to a user id with the DM's channel id; a lenient workspace echoes
    // what it was given, which is what the tests were written against.
    const answered = this.options.strict ? channel : String(args.channel);
    return { ok: true, channel: answered, ts: message.ts, message: { type: 'message', text: message.text, blocks: message.blocks, ts: message.ts, user: poster, ...(threadTs ? { thread_ts: threadTs } : {}) } };
  }

  update(args: Record<string, unknown>): SlackResult {
    const problem = this.channelProblem(args.channel);
    if (problem) return { ok: false, error: problem };
    if (!args.ts) return { ok: false, error: 'message_not_found' };
    const channel = this.canonicalChannel(String(args.channel));
    const stored = this.message(channel, String(args.ts));
    if (!stored) {
      if (this.options.strict) return { ok: false, error: 'message_not_found' };
      return { ok: true, channel: args.channel, ts: args.ts, text: args.text ?? '' };
    }
    if (stored.user !== this.options.botUserId) return { ok: false, error: 'cant_update_message' };
    if (typeof args.text === 'string') stored.text = args.text;
    if (Array.isArray(args.blocks)) stored.blocks = args.blocks;
    if (Array.isArray(args.attachments)) stored.attachments = args.attachments;
    stored.edited = true;
    this.emit('change', { kind: 'message', channel, ts: stored.ts });
    return { ok: true, channel: args.channel, ts: stored.ts, text: stored.text, message: { text: stored.text, blocks: stored.blocks, user: stored.user } };
  }

  postEphemeral(args: Record<string, unknown>, poster = this.options.botUserId): SlackResult {
    const problem = this.channelProblem(args.channel);
    if (problem) return { ok: false, error: problem };
    if (!args.user) return { ok: false, error: 'user_not_in_channel' };
    if (this.options.strict && !new Set(this.options.userIds?.() ?? []).has(String(args.user))) return { ok: false, error: 'user_not_in_channel' };
    const message = this.store({
      channel: this.canonicalChannel(String(args.channel)),
      ts: this.newTs(),
      text: typeof args.text === 'string' ? args.text : '',
      ...(Array.isArray(args.blocks) ? { blocks: args.blocks } : {}),
      user: poster,
      visibleTo: String(args.user),
    });
    return { ok: true, message_ts: message.ts };
  }

  /** A person typing in a conversation (the sandbox's message box). */
  postAsUser(userId: string, channel: string, text: string): StoredMessage {
    return this.store({ channel: this.canonicalChannel(channel), ts: this.newTs(), text, user: userId });
  }

  message(channel: string, ts: string): StoredMessage | undefined {
    return this.messages.get(this.canonicalChannel(channel))?.find((message) => message.ts === ts);
  }

  /** A conversation as `viewer` sees it, oldest first: others' ephemeral messages left out. */
  messagesIn(channel: string, viewer?: string): StoredMessage[] {
    return (this.messages.get(this.canonicalChannel(channel)) ?? []).filter((message) => !message.visibleTo || message.visibleTo === viewer);
  }

  /** Every conversation that holds a message, for the page's channel list. */
  channelsWithMessages(): string[] {
    return [...this.messages.keys()];
  }

  private store(message: StoredMessage): StoredMessage {
    const list = this.messages.get(message.channel) ?? [];
    list.push(message);
    this.messages.set(message.channel, list);
    this.emit('change', { kind: 'message', channel: message.channel, ts: message.ts });
    return message;
  }

  private remove(channel: string, ts: string): void {
    const list = this.messages.get(channel);
    const index = list?.findIndex((message) => message.ts === ts) ?? -1;
    if (list && index >= 0) {
      list.splice(index, 1);
      this.emit('change', { kind: 'message', channel, ts });
    }
  }

  // ---- trigger_ids and response_urls ----------------------------------------------------------

  /** A trigger_id for an interaction by `userId`: exchangeable once for a modal, briefly. */
  issueTrigger(userId: string, now = Date.now()): string {
    const trigger = `${Math.floor(now / 1000)}.${randomBytes(6).readUIntBE(0, 6)}.${randomBytes(16).toString('hex')}`;
    this.triggers.set(trigger, { userId, expiresAt: now + this.options.triggerLifetimeMs, used: false });
    return trigger;
  }

  /** Spends a trigger_id; who it belongs to, or Slack's error. */
  private exchangeTrigger(trigger: unknown, now = Date.now()): { ok: true; userId: string | undefined } | { ok: false; error: string } {
    if (typeof trigger !== 'string' || trigger === '') return { ok: false, error: 'invalid_arguments' };
    const issued = this.triggers.get(trigger);
    if (!issued) return this.options.strict ? { ok: false, error: 'invalid_trigger_id' } : { ok: true, userId: undefined };
    if (issued.used) return { ok: false, error: 'trigger_exchanged' };
    if (now > issued.expiresAt) return { ok: false, error: 'trigger_expired' };
    issued.used = true;
    return { ok: true, userId: issued.userId };
  }

  issueResponseUrl(id: string, target: ResponseTarget, now = Date.now()): void {
    this.responseUrls.set(id, { ...target, uses: 0, expiresAt: now + RESPONSE_URL_LIFETIME_MS });
  }

  /**
   * What an app posts to a response_url: an ephemeral message by default, `in_channel` for all to
   * see, or `replace_original` / `delete_original` of the message clicked. An unknown id is left
   * to the caller (a lenient workspace records it and nothing more).
   */
  respond(id: string, body: Record<string, unknown>, now = Date.now()): SlackResult | undefined {
    const target = this.responseUrls.get(id);
    if (!target) return undefined;
    if (now > target.expiresAt) return { ok: false, error: 'expired_url' };
    if (target.uses >= RESPONSE_URL_USES) return { ok: false, error: 'used_up' };
    target.uses++;
    const channel = this.canonicalChannel(target.channel);
    const original = target.messageTs ? this.message(channel, target.messageTs) : undefined;
    if (isTrue(body.delete_original) && original) {
      this.remove(channel, original.ts);
      return { ok: true };
    }
    if (isTrue(body.replace_original) && original) {
      original.text = typeof body.text === 'string' ? body.text : '';
      if (Array.isArray(body.blocks)) original.blocks = body.blocks;
      else delete original.blocks;
      original.edited = true;
      this.emit('change', { kind: 'message', channel, ts: original.ts });
      return { ok: true };
    }
    const fields = {
      channel,
      ts: this.newTs(),
      text: typeof body.text === 'string' ? body.text : '',
      ...(Array.isArray(body.blocks) ? { blocks: body.blocks } : {}),
      user: this.options.botUserId,
    };
    this.store(body.response_type === 'in_channel' ? fields : { ...fields, visibleTo: target.userId });
    return { ok: true };
  }

  // ---- views ----------------------------------------------------------------------------------

  openView(args: Record<string, unknown>): SlackResult {
    const view = args.view as Record<string, unknown>;
    const trigger = this.exchangeTrigger(args.trigger_id ?? args.interactivity_pointer);
    if (!trigger.ok) return trigger;
    const stored = this.newView(view, 'modal', trigger.userId, null, null);
    if (trigger.userId) {
      // A new modal from a message or Home replaces whatever stack the person had open.
      this.modalStacks.set(trigger.userId, [stored.id]);
      this.emit('change', { kind: 'modal', userId: trigger.userId });
    }
    return { ok: true, view: this.viewObject(stored) };
  }

  pushView(args: Record<string, unknown>): SlackResult {
    const view = args.view as Record<string, unknown>;
    const trigger = this.exchangeTrigger(args.trigger_id ?? args.interactivity_pointer);
    if (!trigger.ok) return trigger;
    const stack = trigger.userId ? (this.modalStacks.get(trigger.userId) ?? []) : [];
    if (trigger.userId && stack.length === 0 && this.options.strict) return { ok: false, error: 'not_found' };
    if (stack.length >= MAX_MODAL_STACK) return { ok: false, error: 'push_limit_reached' };
    const below = stack.at(-1);
    const stored = this.newView(view, 'modal', trigger.userId, below ? this.views.get(below)!.rootViewId : null, below ?? null);
    if (trigger.userId) {
      this.modalStacks.set(trigger.userId, [...stack, stored.id]);
      this.emit('change', { kind: 'modal', userId: trigger.userId });
    }
    return { ok: true, view: this.viewObject(stored) };
  }

  updateView(args: Record<string, unknown>): SlackResult {
    const view = args.view as Record<string, unknown>;
    const stored = args.view_id
      ? this.views.get(String(args.view_id))
      : [...this.views.values()].find((candidate) => candidate.externalId !== null && candidate.externalId === args.external_id);
    if (!stored) {
      if (this.options.strict) return { ok: false, error: 'not_found' };
      return { ok: true, view: { id: args.view_id ?? `V${this.nextViewId++}`, ...view } };
    }
    if (typeof args.hash === 'string' && args.hash !== '' && args.hash !== stored.hash) return { ok: false, error: 'hash_conflict' };
    this.replaceView(stored, view);
    return { ok: true, view: this.viewObject(stored) };
  }

  publishView(args: Record<string, unknown>): SlackResult {
    const view = args.view as Record<string, unknown>;
    const userId = typeof args.user_id === 'string' ? args.user_id : '';
    if (!userId) return { ok: false, error: 'invalid_arguments' };
    if (this.options.strict && !new Set(this.options.userIds?.() ?? []).has(userId)) return { ok: false, error: 'user_not_found' };
    const existing = this.homes.get(userId);
    const stored = existing ? this.views.get(existing) : undefined;
    if (stored) {
      if (typeof args.hash === 'string' && args.hash !== '' && args.hash !== stored.hash) return { ok: false, error: 'hash_conflict' };
      this.replaceView(stored, view);
      return { ok: true, view: this.viewObject(stored) };
    }
    const created = this.newView(view, 'home', userId, null, null);
    this.homes.set(userId, created.id);
    this.emit('change', { kind: 'home', userId });
    return { ok: true, view: this.viewObject(created) };
  }

  view(id: string): StoredView | undefined {
    return this.views.get(id);
  }

  /** The person's open modals, bottom first. */
  modalStack(userId: string): StoredView[] {
    return (this.modalStacks.get(userId) ?? []).map((id) => this.views.get(id)!).filter(Boolean);
  }

  home(userId: string): StoredView | undefined {
    const id = this.homes.get(userId);
    return id ? this.views.get(id) : undefined;
  }

  /** Keeps what the person typed, so a later payload and a re-render carry it. */
  setViewState(id: string, values: StateValues): void {
    const stored = this.views.get(id);
    if (stored) stored.state = { values };
  }

  setViewErrors(id: string, errors: Record<string, string>): void {
    const stored = this.views.get(id);
    if (!stored) return;
    stored.errors = errors;
    this.emitViewChange(stored);
  }

  /** The top modal closes (Cancel, or a submission answered with nothing); the one below shows again. */
  closeTopModal(userId: string): void {
    const stack = this.modalStacks.get(userId) ?? [];
    stack.pop();
    this.modalStacks.set(userId, stack);
    this.emit('change', { kind: 'modal', userId });
  }

  clearModals(userId: string): void {
    this.modalStacks.set(userId, []);
    this.emit('change', { kind: 'modal', userId });
  }

  /** `response_action: update` from a submission: the submitted view is replaced in place. */
  replaceFromSubmission(id: string, view: Record<string, unknown>): void {
    const stored = this.views.get(id);
    if (stored) this.replaceView(stored, view);
  }

  /** `response_action: push` from a submission: no trigger needed. */
  pushFromSubmission(userId: string, view: Record<string, unknown>): SlackResult {
    const stack = this.modalStacks.get(userId) ?? [];
    if (stack.length >= MAX_MODAL_STACK) return { ok: false, error: 'push_limit_reached' };
    const below = stack.at(-1);
    const stored = this.newView(view, 'modal', userId, below ? this.views.get(below)!.rootViewId : null, below ?? null);
    this.modalStacks.set(userId, [...stack, stored.id]);
    this.emit('change', { kind: 'modal', userId });
    return { ok: true, view: this.viewObject(stored) };
  }

  /** A view as Slack hands it to the app: in API answers and in interaction payloads. */
  viewObject(stored: StoredView): Record<string, unknown> {
    const view = stored.view;
    return {
      id: stored.id,
      team_id: this.options.teamId,
      type: stored.type,
      blocks: view.blocks ?? [],
      private_metadata: view.private_metadata ?? '',
      callback_id: view.callback_id ?? '',
      state: stored.state,
      hash: stored.hash,
      title: view.title ?? null,
      clear_on_close: view.clear_on_close ?? false,
      notify_on_close: view.notify_on_close ?? false,
      close: view.close ?? null,
      submit: view.submit ?? null,
      previous_view_id: stored.previousViewId,
      root_view_id: stored.rootViewId,
      app_id: this.options.appId,
      external_id: stored.externalId ?? '',
      app_installed_team_id: this.options.teamId,
      bot_id: 'B0LATCHBOT',
    };
  }

  private newView(view: Record<string, unknown>, type: 'modal' | 'home', userId: string | undefined, rootViewId: string | null, previousViewId: string | null): StoredView {
    const id = `V${String(this.nextViewId++).padStart(8, '0')}`;
    const stored: StoredView = {
      id,
      type,
      userId,
      view,
      hash: newHash(),
      state: { values: {} },
      rootViewId: rootViewId ?? id,
      previousViewId,
      externalId: typeof view.external_id === 'string' ? view.external_id : null,
      errors: {},
    };
    this.views.set(id, stored);
    return stored;
  }

  /**
   * A new version of a view. As in Slack, what the person typed survives in inputs whose block_id
   * and action_id are unchanged; errors shown under fields are cleared.
   */
  private replaceView(stored: StoredView, view: Record<string, unknown>): void {
    const kept: StateValues = {};
    for (const block of (view.blocks as Array<Record<string, unknown>> | undefined) ?? []) {
      const blockId = typeof block.block_id === 'string' ? block.block_id : undefined;
      const actionId = (block.element as { action_id?: string } | undefined)?.action_id;
      const value = blockId && actionId ? stored.state.values[blockId]?.[actionId] : undefined;
      if (blockId && actionId && value) kept[blockId] = { [actionId]: value };
    }
    stored.view = view;
    stored.state = { values: kept };
    stored.hash = newHash();
    stored.errors = {};
    if (typeof view.external_id === 'string') stored.externalId = view.external_id;
    this.emitViewChange(stored);
  }

  private emitViewChange(stored: StoredView): void {
    if (!stored.userId) return;
    this.emit('change', { kind: stored.type === 'home' ? 'home' : 'modal', userId: stored.userId });
  }
}

function newHash(): string {
  return `${Math.floor(Date.now() / 1000)}.${randomBytes(6).toString('hex')}`;
}

/** A boolean as Slack reads it from a form (`true`, `1`) or from JSON. */
export function isTrue(value: unknown): boolean {
  return value === true || value === 1 || value === 'true' || value === '1';
}
