import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { FakeSlack } from './fake-slack.ts';
import {
  blockActionsPayload,
  blockSuggestionPayload,
  eventCallback,
  slashCommandFields,
  viewClosedPayload,
  viewSubmissionPayload,
  type ActionContainer,
  type AppIdentity,
  type Person,
} from './slack-payloads.ts';
import { interactionBody, postSignedToSlackApp, slashCommandBody } from './slack-signing.ts';
import { Workspace, type StateValues, type StoredView } from './workspace.ts';

/**
 * What Slack's servers and client do when a person types and clicks: the sandbox's half of the
 * conversation with Latch. Each gesture becomes the request Slack would send (a slash command,
 * block_actions, view_submission, view_closed, block_suggestion, app_home_opened), signed with the
 * signing secret, and Latch's HTTP answer is applied as Slack applies it (a view_submission's
 * `response_action`, a command's immediate reply, options for an external select).
 *
 * Values come from the page as it holds them (`RawValues`: text typed, an option's value picked,
 * Unix seconds for a date and time) and are turned into Slack's `view.state.values` from the view's
 * own definition, so the app gets the full option objects Slack sends.
 */

/** block_id → action_id → what the page's control holds. */
export type RawValues = Record<string, Record<string, RawValue>>;
export type RawValue = string | number | string[] | { value: string; text: string } | null;

/** A request the sandbox sent to Latch, and how Latch answered. */
export interface SentToApp {
  kind: 'slash_command' | 'block_actions' | 'view_submission' | 'view_closed' | 'block_suggestion' | 'event_callback';
  payload: unknown;
  status: number | null;
  /** Latch's answer body (parsed when JSON), or the failure when none came. */
  answer: unknown;
  ms: number;
}

export type SubmitOutcome =
  | { outcome: 'closed' | 'updated' | 'pushed' | 'cleared' }
  | { outcome: 'errors'; errors: Record<string, string>; sent: boolean };

export interface SandboxClientOptions {
  latchUrl: string;
  signingSecret: string;
  /** The slash commands the app registered, e.g. `/request-access`. */
  commands: string[];
  teamDomain: string;
  /** Slack waits 3 s for an app's answer; the sandbox waits this long and says when 3 s passed. */
  answerTimeoutMs?: number;
}

/** Slack's own words when a required input is left empty. */
export const REQUIRED_FIELD_ERROR = 'Please complete this required field.';
const SLACK_ANSWER_MS = 3_000;
/** Slack's own voice in a workspace: it, not the app, says a command failed. */
const SLACKBOT = 'USLACKBOT';

export class SandboxClient extends EventEmitter<{ sent: [SentToApp] }> {
  private readonly workspace: Workspace;

  constructor(
    private readonly slack: FakeSlack,
    private readonly options: SandboxClientOptions,
  ) {
    super();
    this.workspace = slack.workspace;
  }

  private get app(): AppIdentity {
    return { appId: this.slack.appId, team: { id: this.slack.teamId, domain: this.options.teamDomain }, botUserId: this.slack.botUserId };
  }

  private person(userId: string): Person {
    const user = this.slack.user(userId);
    if (!user) throw new SandboxInputError(`no such user: ${userId}`);
    return { id: user.id, name: user.name };
  }

  /** The message box: a slash command when it starts with `/`, otherwise a message in the channel. */
  async say(userId: string, channel: string, text: string): Promise<{ kind: 'command' | 'message'; status?: number | null; ts?: string }> {
    this.person(userId);
    const channelId = this.conversationOf(userId, channel);
    const command = /^(\/\S+)\s*([\s\S]*)$/.exec(text.trim());
    if (command) {
      const status = await this.runCommand(userId, channelId, command[1]!, command[2]!.trim());
      return { kind: 'command', status };
    }
    if (text.trim() === '') throw new SandboxInputError('type a message or a slash command');
    const message = this.workspace.postAsUser(userId, channelId, text);
    return { kind: 'message', ts: message.ts };
  }

  /** Runs `/command text` as `userId` in `channel`, as Slack does; Latch's HTTP status, or null. */
  async runCommand(userId: string, channel: string, command: string, text: string): Promise<number | null> {
    const person = this.person(userId);
    const channelId = this.conversationOf(userId, channel);
    if (!this.options.commands.includes(command)) {
      this.workspace.postEphemeral({ channel: channelId, user: userId, text: `${command} is not a valid command. In Slack, all messages that start with the "/" character are interpreted as commands.` }, SLACKBOT);
      return null;
    }
    const responseId = this.responseUrlFor({ userId, channel: channelId });
    const fields = slashCommandFields({
      app: this.app,
      person,
      command,
      text,
      channel: { id: channelId, name: this.channelName(channelId) },
      triggerId: this.workspace.issueTrigger(userId),
      responseUrl: this.slack.responseUrl(responseId),
    });
    const sent = await this.send('slash_command', fields, slashCommandBody(fields));
    if (sent.status === 200) {
      // An immediate answer (Bolt's `ack(text)`) is shown like a response_url message.
      if (typeof sent.answer === 'string' && sent.answer.trim() !== '') this.workspace.respond(responseId, { text: sent.answer });
      else if (sent.answer && typeof sent.answer === 'object') this.workspace.respond(responseId, sent.answer as Record<string, unknown>);
    } else {
      const error = sent.status === null ? 'operation_timeout' : 'dispatch_failed';
      this.workspace.postEphemeral({ channel: channelId, user: userId, text: `${command} failed with the error "${error}"` }, SLACKBOT);
    }
    return sent.status;
  }

  /**
   * A click or a pick on an interactive element of a message, a modal or the Home tab. `values`
   * holds what the view's inputs show now (ignored for messages); `value` is the element's own new
   * value for a select or picker.
   */
  async act(
    userId: string,
    input: { container: { type: 'message'; channel: string; ts: string } | { type: 'view'; viewId: string }; blockId: string; actionId: string; value?: RawValue; values?: RawValues },
  ): Promise<number | null> {
    const person = this.person(userId);
    if (input.container.type === 'message') {
      const { channel, ts } = input.container;
      const message = this.workspace.message(channel, ts);
      if (!message || (message.visibleTo && message.visibleTo !== userId)) throw new SandboxInputError(`no message ${ts} in ${channel} for ${userId}`);
      const element = findElement(message.blocks, input.blockId, input.actionId);
      if (!element) throw new SandboxInputError(`message ${ts} has no element ${input.actionId} in block ${input.blockId}`);
      const canonical = this.workspace.canonicalChannel(channel);
      const container: ActionContainer = {
        type: 'message',
        channelId: canonical,
        channelName: this.channelName(canonical),
        messageTs: ts,
        isEphemeral: Boolean(message.visibleTo),
        message: { type: 'message', user: message.user, ts: message.ts, text: message.text, blocks: message.blocks ?? [], ...(message.threadTs ? { thread_ts: message.threadTs } : {}) },
        responseUrl: this.slack.responseUrl(this.responseUrlFor({ userId, channel: canonical, messageTs: ts })),
      };
      return this.sendAction(person, container, actionOf(element, input.blockId, input.value));
    }
    const stored = this.viewFor(userId, input.container.viewId);
    if (input.values) this.workspace.setViewState(stored.id, stateValues(stored.view.blocks, input.values));
    const element = findElement(stored.view.blocks, input.blockId, input.actionId);
    if (!element) throw new SandboxInputError(`view ${stored.id} has no element ${input.actionId} in block ${input.blockId}`);
    const action = actionOf(element, input.blockId, input.value);
    // A select's new choice is part of the view's state in the same payload, as in Slack.
    if (input.value !== undefined && element.type !== 'button') {
      const values = structuredClone(stored.state.values);
      values[input.blockId] = { ...values[input.blockId], [input.actionId]: elementState(element, input.value) };
      this.workspace.setViewState(stored.id, values);
    }
    return this.sendAction(person, { type: 'view', view: this.workspace.viewObject(stored) }, action);
  }

  /** Submits the person's top modal with what its inputs hold, and applies Latch's answer. */
  async submitView(userId: string, viewId: string, values: RawValues): Promise<SubmitOutcome> {
    const person = this.person(userId);
    const stored = this.viewFor(userId, viewId);
    if (stored.type !== 'modal' || this.workspace.modalStack(userId).at(-1)?.id !== viewId) throw new SandboxInputError(`view ${viewId} is not the modal ${userId} sees`);
    this.workspace.setViewState(viewId, stateValues(stored.view.blocks, values));
    // Slack's client refuses an empty required input itself; the app never hears of it.
    const missing = missingRequired(stored);
    if (Object.keys(missing).length > 0) {
      this.workspace.setViewErrors(viewId, missing);
      return { outcome: 'errors', errors: missing, sent: false };
    }
    const payload = viewSubmissionPayload({ app: this.app, person, view: this.workspace.viewObject(stored), triggerId: this.workspace.issueTrigger(userId) });
    const sent = await this.send('view_submission', payload, interactionBody(payload));
    if (sent.status !== 200) {
      const errors = { '': 'We had some trouble connecting. Try again?' };
      this.workspace.setViewErrors(viewId, errors);
      return { outcome: 'errors', errors, sent: true };
    }
    const answer = (sent.answer && typeof sent.answer === 'object' ? sent.answer : {}) as { response_action?: string; errors?: Record<string, string>; view?: Record<string, unknown> };
    switch (answer.response_action) {
      case 'errors': {
        const errors = answer.errors ?? {};
        this.workspace.setViewErrors(viewId, errors);
        return { outcome: 'errors', errors, sent: true };
      }
      case 'update':
        if (answer.view) this.workspace.replaceFromSubmission(viewId, answer.view);
        return { outcome: 'updated' };
      case 'push':
        if (answer.view) this.workspace.pushFromSubmission(userId, answer.view);
        return { outcome: 'pushed' };
      case 'clear':
        this.workspace.clearModals(userId);
        return { outcome: 'cleared' };
      default:
        this.workspace.closeTopModal(userId);
        return { outcome: 'closed' };
    }
  }

  /** Cancel or ×: the top modal closes (all of them with `clear_on_close`); view_closed if asked for. */
  async closeView(userId: string, viewId: string, values: RawValues = {}): Promise<void> {
    const person = this.person(userId);
    const stored = this.viewFor(userId, viewId);
    this.workspace.setViewState(viewId, stateValues(stored.view.blocks, values));
    const clear = stored.view.clear_on_close === true;
    if (clear) this.workspace.clearModals(userId);
    else this.workspace.closeTopModal(userId);
    if (stored.view.notify_on_close === true) {
      const payload = viewClosedPayload({ app: this.app, person, view: this.workspace.viewObject(stored), isCleared: clear });
      await this.send('view_closed', payload, interactionBody(payload));
    }
  }

  /** Options for an external select, asked of Latch with `block_suggestion` as the person types. */
  async suggest(userId: string, viewId: string, blockId: string, actionId: string, query: string): Promise<Array<{ text: string; value: string; group?: string }>> {
    const person = this.person(userId);
    const stored = this.viewFor(userId, viewId);
    const payload = blockSuggestionPayload({ app: this.app, person, view: this.workspace.viewObject(stored), actionId, blockId, value: query });
    const sent = await this.send('block_suggestion', payload, interactionBody(payload));
    const answer = (sent.status === 200 && sent.answer && typeof sent.answer === 'object' ? sent.answer : {}) as {
      options?: Array<{ text?: { text?: string }; value?: string }>;
      option_groups?: Array<{ label?: { text?: string }; options?: Array<{ text?: { text?: string }; value?: string }> }>;
    };
    const flat = (options: typeof answer.options, group?: string) => (options ?? []).map((option) => ({ text: option.text?.text ?? '', value: option.value ?? '', ...(group ? { group } : {}) }));
    return [...flat(answer.options), ...(answer.option_groups ?? []).flatMap((group) => flat(group.options, group.label?.text))];
  }

  /** The person opens the app's Home tab: Slack tells the app with `app_home_opened`. */
  async openHome(userId: string): Promise<number | null> {
    this.person(userId);
    const home = this.workspace.home(userId);
    const event = {
      type: 'app_home_opened',
      user: userId,
      channel: Workspace.dmChannelOf(userId),
      tab: 'home',
      ...(home ? { view: this.workspace.viewObject(home) } : {}),
    };
    const payload = eventCallback(this.app, event);
    const body = JSON.stringify(payload);
    return (await this.send('event_callback', payload, body)).status;
  }

  private async sendAction(person: Person, container: ActionContainer, action: Record<string, unknown>): Promise<number | null> {
    const payload = blockActionsPayload({ app: this.app, person, container, action, triggerId: this.workspace.issueTrigger(person.id) });
    return (await this.send('block_actions', payload, interactionBody(payload))).status;
  }

  private async send(kind: SentToApp['kind'], payload: unknown, body: string): Promise<SentToApp> {
    const started = Date.now();
    let sent: SentToApp;
    try {
      const response = await postSignedToSlackApp(this.options.latchUrl, body, {
        signingSecret: this.options.signingSecret,
        contentType: kind === 'event_callback' ? 'application/json' : 'application/x-www-form-urlencoded',
        signal: AbortSignal.timeout(this.options.answerTimeoutMs ?? 10_000),
      });
      const text = await response.text();
      sent = { kind, payload, status: response.status, answer: parseAnswer(text), ms: Date.now() - started };
    } catch (error) {
      sent = { kind, payload, status: null, answer: { error: (error as Error).message }, ms: Date.now() - started };
    }
    if (sent.ms > SLACK_ANSWER_MS) sent.answer = { slow: `Latch took ${sent.ms} ms; Slack gives up after ${SLACK_ANSWER_MS} ms`, answer: sent.answer };
    this.emit('sent', sent);
    return sent;
  }

  private viewFor(userId: string, viewId: string): StoredView {
    const stored = this.workspace.view(viewId);
    if (!stored || stored.userId !== userId) throw new SandboxInputError(`no view ${viewId} open for ${userId}`);
    return stored;
  }

  /** The person's DM with the app when they type there, else the channel as given. */
  private conversationOf(userId: string, channel: string): string {
    const canonical = this.workspace.canonicalChannel(channel);
    const dmUser = Workspace.dmUserOf(canonical);
    if (dmUser && dmUser !== userId) throw new SandboxInputError(`${userId} cannot write in another person's DM`);
    if (!dmUser && !this.slack.channel(canonical)) throw new SandboxInputError(`no such channel: ${channel}`);
    return canonical;
  }

  private channelName(channel: string): string {
    return Workspace.dmUserOf(channel) ? 'directmessage' : (this.slack.channel(channel)?.name ?? channel);
  }

  private responseUrlFor(target: { userId: string; channel: string; messageTs?: string }): string {
    const id = randomBytes(12).toString('hex');
    this.workspace.issueResponseUrl(id, target);
    return id;
  }
}

/** A request the page or a test made that cannot be carried out (unknown user, view, element). */
export class SandboxInputError extends Error {}

function parseAnswer(text: string): unknown {
  if (text.trim() === '') return '';
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

type Json = Record<string, unknown>;
type Option = { text?: { type?: string; text?: string }; value?: string };

/** The interactive element `actionId` of block `blockId`: in an input, an actions block, or a section's accessory. */
export function findElement(blocks: unknown, blockId: string, actionId: string): Json | undefined {
  if (!Array.isArray(blocks)) return undefined;
  for (const [index, block] of (blocks as Json[]).entries()) {
    const id = typeof block.block_id === 'string' ? block.block_id : `b${index}`;
    if (id !== blockId) continue;
    const candidates = [block.element, block.accessory, ...((block.elements as unknown[] | undefined) ?? [])] as Array<Json | undefined>;
    const found = candidates.find((element) => element && element.action_id === actionId);
    if (found) return found;
  }
  return undefined;
}

/** The `actions[0]` Slack sends for a click on `element` (a button) or a new value (a select, a picker). */
function actionOf(element: Json, blockId: string, value: RawValue | undefined): Record<string, unknown> {
  const base = { action_id: element.action_id, block_id: blockId, type: element.type, action_ts: (Date.now() / 1000).toFixed(6) };
  if (element.type === 'button') {
    return { ...base, text: element.text, ...(element.value !== undefined ? { value: element.value } : {}), ...(element.style ? { style: element.style } : {}) };
  }
  return { ...base, ...elementState(element, value ?? null), ...(element.placeholder ? { placeholder: element.placeholder } : {}) };
}

/** One element's state in Slack's shape, from what the page's control holds. */
function elementState(element: Json, raw: RawValue): Json {
  const type = String(element.type);
  const options = allOptions(element);
  const option = (value: unknown) => options.find((candidate) => candidate.value === value) ?? null;
  switch (type) {
    case 'plain_text_input':
    case 'number_input':
    case 'email_text_input':
    case 'url_text_input':
      return { type, value: typeof raw === 'string' && raw !== '' ? raw : typeof raw === 'number' ? String(raw) : null };
    case 'static_select':
    case 'radio_buttons':
      return { type, selected_option: option(raw) };
    case 'external_select': {
      const picked = raw && typeof raw === 'object' && !Array.isArray(raw) ? raw : null;
      return { type, selected_option: picked ? { text: { type: 'plain_text', text: picked.text, emoji: true }, value: picked.value } : null };
    }
    case 'multi_static_select':
    case 'checkboxes':
      return { type, selected_options: (Array.isArray(raw) ? raw : []).map(option).filter(Boolean) };
    case 'datetimepicker': {
      const seconds = typeof raw === 'number' ? raw : typeof raw === 'string' && raw !== '' ? Number(raw) : NaN;
      return { type, selected_date_time: Number.isFinite(seconds) ? Math.floor(seconds) : null };
    }
    case 'datepicker':
      return { type, selected_date: typeof raw === 'string' && raw !== '' ? raw : null };
    case 'timepicker':
      return { type, selected_time: typeof raw === 'string' && raw !== '' ? raw : null };
    case 'users_select':
      return { type, selected_user: raw || null };
    case 'conversations_select':
      return { type, selected_conversation: raw || null };
    case 'channels_select':
      return { type, selected_channel: raw || null };
    default:
      return { type, value: raw };
  }
}

function allOptions(element: Json): Option[] {
  const groups = (element.option_groups as Array<{ options?: Option[] }> | undefined) ?? [];
  return [...((element.options as Option[] | undefined) ?? []), ...groups.flatMap((group) => group.options ?? [])];
}

/** `view.state.values` from the page's values: every input's element, and any stateful element sent. */
export function stateValues(blocks: unknown, raw: RawValues): StateValues {
  const values: StateValues = {};
  for (const [blockId, actions] of Object.entries(raw)) {
    for (const [actionId, value] of Object.entries(actions)) {
      const element = findElement(blocks, blockId, actionId);
      if (!element || element.type === 'button') continue;
      values[blockId] = { ...values[blockId], [actionId]: elementState(element, value) };
    }
  }
  return values;
}

function missingRequired(stored: StoredView): Record<string, string> {
  const missing: Record<string, string> = {};
  for (const [index, block] of ((stored.view.blocks as Json[] | undefined) ?? []).entries()) {
    if (block.type !== 'input' || block.optional === true) continue;
    const blockId = typeof block.block_id === 'string' ? block.block_id : `b${index}`;
    const element = block.element as Json | undefined;
    const state = stored.state.values[blockId]?.[String(element?.action_id)];
    if (!state || isEmptyState(state)) missing[blockId] = REQUIRED_FIELD_ERROR;
  }
  return missing;
}

function isEmptyState(state: Record<string, unknown>): boolean {
  const { type: _type, ...rest } = state;
  return Object.values(rest).every((value) => value === null || value === undefined || value === '' || (Array.isArray(value) && value.length === 0));
}
