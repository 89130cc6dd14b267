import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { renderMessage, renderView } from './block-kit/render.ts';
import type { Directory } from './block-kit/mrkdwn.ts';
import { FakeSlack, type FakeSlackAnswer } from './fake-slack.ts';
import { LiveFeed } from './live-feed.ts';
import { SameSiteGuard, sandboxHostNames } from './same-site-guard.ts';
import { SandboxClient, SandboxInputError, type RawValue, type RawValues, type SentToApp } from './slack-client.ts';
import { Workspace, type StoredMessage, type WorkspaceChange } from './workspace.ts';

/**
 * A local Slack for trying and testing Latch without a workspace: Slack's Web API for Latch (the
 * same fake the tests use, strict here), and a web page where a person acts as one of the demo
 * users in channels, DMs, modals and the Home tab. What they do is sent to Latch as Slack sends it,
 * signed; what Latch sends back shows up on the page live. A development tool, never part of
 * Latch's production process.
 */

export interface SandboxUser {
  id: string;
  name: string;
  realName: string;
  email: string;
  tz?: string;
}

export interface SandboxOptions {
  port: number;
  host?: string; // page and Web API on the same port
  /**
   * Other names the page is reached by (a tunnel, a DNS name of this machine). Requests whose Host
   * is none of these nor the listen address are refused (see same-site-guard.ts).
   */
  allowedHosts?: string[];
  latchUrl: string; // where to POST signed requests, e.g. http://127.0.0.1:3000/slack/events
  signingSecret: string;
  botToken: string;
  users: SandboxUser[];
  channels: Array<{ id: string; name: string }>;
  usergroups: Array<{ id: string; handle: string; users: string[] }>;
  /** Extra panels the page shows, refreshed live (the demo shows pg_has_role here). */
  panels?: Array<{ title: string; read: () => Promise<Array<Record<string, string | number | boolean>>> }>;
  /** Slash commands the app has; others are "not a valid command", as in Slack. */
  commands?: string[];
  /**
   * How long a trigger_id opens a modal. Slack's is 3 s; 30 s by default here, since a person and a
   * busy laptop sit between the click and Latch's views.open.
   */
  triggerLifetimeMs?: number;
  /** How often panels are re-read while a page is open. */
  panelIntervalMs?: number;
  appName?: string;
}

export interface RunningSandbox {
  /** The page. */
  url: string;
  /** What Latch gets as SLACK_API_URL (ending with /api/). */
  apiUrl: string;
  /** The Web API and the workspace behind it, for tests. */
  slack: FakeSlack;
  close(): Promise<void>;
}

/** One line of the API log: a Web API call Latch made, or a request the sandbox sent Latch. */
export interface ApiLogEntry {
  seq: number;
  at: string;
  direction: 'from-latch' | 'to-latch';
  method: string;
  ok: boolean;
  error?: string;
  status: number | null;
  body: unknown;
  answer: unknown;
}

const PAGE_DIR = new URL('./page/', import.meta.url);
const STATIC_FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/static/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/static/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};
const MAX_LOG_ENTRIES = 500;
const BOT_USER_ID = 'U0LATCHBOT';

export async function startSandbox(options: SandboxOptions): Promise<RunningSandbox> {
  const slack = FakeSlack.create({
    botToken: options.botToken,
    botUserId: BOT_USER_ID,
    strict: true,
    triggerLifetimeMs: options.triggerLifetimeMs ?? 30_000,
    users: options.users.map((user) => ({ id: user.id, name: user.name, realName: user.realName, email: user.email, ...(user.tz ? { tz: user.tz } : {}) })),
    channels: options.channels,
  });
  for (const group of options.usergroups) slack.addUsergroup(group.id, { users: group.users, handle: group.handle, name: group.handle });
  const client = new SandboxClient(slack, { latchUrl: options.latchUrl, signingSecret: options.signingSecret, commands: options.commands ?? ['/request-access'], teamDomain: 'latch-sandbox' });
  const sandbox = new SandboxServer(slack, client, options);
  const server = createServer((req, res) => void sandbox.handle(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  sandbox.guard = new SameSiteGuard(sandboxHostNames(options.host ?? '127.0.0.1', options.allowedHosts), port);
  const host = options.host && options.host !== '0.0.0.0' && options.host !== '::' ? options.host : '127.0.0.1';
  const origin = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  slack.servedAt(origin);
  return {
    url: `${origin}/`,
    apiUrl: slack.apiUrl,
    slack,
    close: () => sandbox.close(server),
  };
}

class SandboxServer {
  private readonly feed = new LiveFeed();
  private readonly log: ApiLogEntry[] = [];
  private seq = 0;
  private readonly panelTimer: NodeJS.Timeout | undefined;
  private readonly lastPanels = new Map<number, string>();
  readonly directory: Directory;
  /** Set once the server listens (the port is known then); until then every request is refused. */
  guard: SameSiteGuard | undefined;

  constructor(
    private readonly slack: FakeSlack,
    private readonly client: SandboxClient,
    private readonly options: SandboxOptions,
  ) {
    this.directory = {
      userName: (id) => (id === BOT_USER_ID ? this.appName : id === 'USLACKBOT' ? 'Slackbot' : slack.user(id)?.realName),
      channelName: (id) => slack.channel(id)?.name,
      usergroupHandle: (id) => slack.usergroup(id)?.handle,
    };
    slack.on('answer', (answer) => this.logFromLatch(answer));
    client.on('sent', (sent) => this.logToLatch(sent));
    slack.workspace.on('change', (change) => this.announce(change));
    if (options.panels?.length) {
      this.panelTimer = setInterval(() => void this.refreshPanels(false), options.panelIntervalMs ?? 1_000);
      this.panelTimer.unref();
    }
  }

  private get appName(): string {
    return this.options.appName ?? 'Latch';
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sandbox');
    try {
      const refusal = this.guard ? this.guard.refusal(req, !FakeSlack.serves(url.pathname)) : { status: 403, message: 'refused: not listening yet' };
      if (refusal) return sendJson(res, refusal.status, { ok: false, error: refusal.message });
      if (FakeSlack.serves(url.pathname)) return await this.slack.handle(req, res);
      const file = STATIC_FILES[url.pathname];
      if (file && req.method === 'GET') return await sendFile(res, file.file, file.type);
      if (url.pathname === '/sandbox/events' && req.method === 'GET') return this.feed.subscribe(req, res);
      if (url.pathname === '/favicon.ico') {
        res.writeHead(204).end();
        return;
      }
      const route = `${req.method} ${url.pathname}`;
      const body = req.method === 'POST' ? await readJson(req) : {};
      const query = Object.fromEntries(url.searchParams);
      sendJson(res, 200, await this.route(route, query, body));
    } catch (error) {
      if (error instanceof SandboxInputError || error instanceof SyntaxError) sendJson(res, 400, { ok: false, error: error.message });
      else if (error instanceof NotFound) sendJson(res, 404, { ok: false, error: error.message });
      else sendJson(res, 500, { ok: false, error: (error as Error).message });
    }
  }

  /** The sandbox's own HTTP API: what the page calls, and what tests drive. */
  private async route(route: string, query: Record<string, string>, body: Record<string, unknown>): Promise<unknown> {
    const viewRoute = /^POST \/sandbox\/api\/views\/([^/]+)\/(submit|close|suggestions)$/.exec(route);
    if (viewRoute) {
      const [, viewId, what] = viewRoute as unknown as [string, string, string];
      const user = stringField(body, 'user');
      const values = (body.values ?? {}) as RawValues;
      if (what === 'submit') return { ok: true, ...(await this.client.submitView(user, viewId, values)) };
      if (what === 'close') {
        await this.client.closeView(user, viewId, values);
        return { ok: true };
      }
      return { ok: true, options: await this.client.suggest(user, viewId, stringField(body, 'blockId'), stringField(body, 'actionId'), String(body.query ?? '')) };
    }
    switch (route) {
      case 'GET /sandbox/api/directory':
        return this.directoryJson();
      case 'GET /sandbox/api/conversation':
        return this.conversation(requiredParam(query, 'user'), requiredParam(query, 'channel'));
      case 'GET /sandbox/api/modal':
        return this.modal(requiredParam(query, 'user'));
      case 'GET /sandbox/api/home':
        return this.homeJson(requiredParam(query, 'user'));
      case 'GET /sandbox/api/log':
        return { entries: this.log };
      case 'GET /sandbox/api/panels':
        return { panels: await this.readPanels() };
      case 'POST /sandbox/api/messages': {
        const result = await this.client.say(stringField(body, 'user'), stringField(body, 'channel'), stringField(body, 'text'));
        return { ok: true, ...result };
      }
      case 'POST /sandbox/api/actions': {
        const container = body.container as { type: 'message'; channel: string; ts: string } | { type: 'view'; viewId: string } | undefined;
        if (!container || (container.type !== 'message' && container.type !== 'view')) throw new SandboxInputError('container must be a message ({type, channel, ts}) or a view ({type, viewId})');
        const status = await this.client.act(stringField(body, 'user'), {
          container,
          blockId: stringField(body, 'blockId'),
          actionId: stringField(body, 'actionId'),
          ...(body.value !== undefined ? { value: body.value as RawValue } : {}),
          ...(body.values ? { values: body.values as RawValues } : {}),
        });
        return { ok: status === 200, status };
      }
      case 'POST /sandbox/api/home/open': {
        const status = await this.client.openHome(stringField(body, 'user'));
        return { ok: status === 200, status };
      }
      default:
        throw new NotFound(`no such sandbox route: ${route}`);
    }
  }

  private directoryJson() {
    return {
      app: { name: this.appName, botUserId: BOT_USER_ID },
      users: this.options.users,
      channels: this.slack.listChannels(),
      usergroups: this.slack.listUsergroups().map((group) => ({ id: group.id, handle: group.handle, users: group.users })),
      commands: this.options.commands ?? ['/request-access'],
      panels: (this.options.panels ?? []).map((panel) => panel.title),
    };
  }

  /** A conversation as `user` sees it, each message rendered; thread replies follow their parent. */
  private conversation(user: string, channel: string) {
    const canonical = this.slack.workspace.canonicalChannel(channel);
    const dmUser = Workspace.dmUserOf(canonical);
    if (dmUser ? dmUser !== user : !this.slack.channel(canonical)) throw new SandboxInputError(`${user} cannot see ${channel}`);
    const messages = this.slack.workspace.messagesIn(canonical, user).map((message) => this.messageJson(message));
    return { channel: canonical, messages };
  }

  private messageJson(message: StoredMessage) {
    return {
      channel: message.channel,
      ts: message.ts,
      ...(message.threadTs ? { threadTs: message.threadTs } : {}),
      ...(message.visibleTo ? { visibleTo: message.visibleTo } : {}),
      text: message.text,
      html: renderMessage(message, this.directory, { appName: this.appName, botUserId: BOT_USER_ID }),
    };
  }

  private modal(user: string) {
    const stack = this.slack.workspace.modalStack(user);
    const top = stack.at(-1);
    return { view: top ? { id: top.id, callbackId: top.view.callback_id ?? '', depth: stack.length, html: renderView(top, this.directory, { stackDepth: stack.length }) } : null };
  }

  private homeJson(user: string) {
    const home = this.slack.workspace.home(user);
    return { view: home ? { id: home.id, html: renderView(home, this.directory) } : null };
  }

  private announce(change: WorkspaceChange): void {
    if (change.kind === 'message') {
      const message = this.slack.workspace.message(change.channel, change.ts);
      this.feed.publish('message', message ? this.messageJson(message) : { channel: change.channel, ts: change.ts, deleted: true });
    } else {
      this.feed.publish(change.kind, { userId: change.userId });
    }
  }

  private logFromLatch({ call, status, body }: FakeSlackAnswer): void {
    const answer = body as { ok?: boolean; error?: string } | undefined;
    const { token: _token, ...args } = call.args;
    this.addLog({
      direction: 'from-latch',
      method: call.method,
      ok: status === 200 && answer?.ok !== false,
      ...(answer?.error ? { error: answer.error } : {}),
      status,
      body: args,
      answer: body,
    });
  }

  private logToLatch(sent: SentToApp): void {
    const payload = sent.payload as { type?: string; event?: { type?: string }; command?: string };
    const method = sent.kind === 'event_callback' ? `event ${payload.event?.type ?? ''}` : sent.kind === 'slash_command' ? `command ${payload.command ?? ''}` : (payload.type ?? sent.kind);
    this.addLog({ direction: 'to-latch', method, ok: sent.status === 200, ...(sent.status === 200 ? {} : { error: sent.status === null ? 'no answer' : `HTTP ${sent.status}` }), status: sent.status, body: sent.payload, answer: sent.answer });
  }

  private addLog(entry: Omit<ApiLogEntry, 'seq' | 'at'>): void {
    const full: ApiLogEntry = { seq: ++this.seq, at: new Date().toISOString(), ...entry };
    this.log.push(full);
    if (this.log.length > MAX_LOG_ENTRIES) this.log.shift();
    this.feed.publish('call', full);
  }

  private async readPanels() {
    return Promise.all(
      (this.options.panels ?? []).map(async (panel, index) => {
        try {
          return { index, title: panel.title, rows: await panel.read() };
        } catch (error) {
          return { index, title: panel.title, rows: [], error: (error as Error).message };
        }
      }),
    );
  }

  /** Re-reads the panels while a page listens, and publishes the ones that changed. */
  private async refreshPanels(force: boolean): Promise<void> {
    if (this.feed.listeners === 0 && !force) return;
    for (const panel of await this.readPanels()) {
      const json = JSON.stringify(panel);
      if (this.lastPanels.get(panel.index) === json) continue;
      this.lastPanels.set(panel.index, json);
      this.feed.publish('panel', panel);
    }
  }

  async close(server: Server): Promise<void> {
    if (this.panelTimer) clearInterval(this.panelTimer);
    this.feed.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

class NotFound extends Error {}

function stringField(body: Record<string, unknown>, name: string): string {
  const value = body[name];
  if (typeof value !== 'string' || value === '') throw new SandboxInputError(`${name} is required`);
  return value;
}

function requiredParam(query: Record<string, string>, name: string): string {
  const value = query[name];
  if (!value) throw new SandboxInputError(`?${name}= is required`);
  return value;
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  const parsed = JSON.parse(text) as unknown;
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new SandboxInputError('the body must be a JSON object');
  return parsed as Record<string, unknown>;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

async function sendFile(res: ServerResponse, file: string, type: string): Promise<void> {
  const content = await readFile(new URL(file, PAGE_DIR));
  res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(content);
}
