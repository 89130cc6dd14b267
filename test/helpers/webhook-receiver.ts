import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A receiver for the webhook provider on loopback, written the way a team receiving Latch's
 * webhooks would write one. It checks the signature on its own (not with Latch's code, so a
 * mistake in signing cannot hide behind the same mistake in checking) and answers 401 when it is
 * wrong; keeps who holds which (resource, role) to answer `check`; applies each grant or revoke
 * idempotency key once; and can be told to fail, hang or drop the next calls, or to be slow.
 */

export interface WebhookCall {
  action: string;
  idempotencyKey: string | undefined;
  headers: IncomingMessage['headers'];
  rawBody: string;
  body: Record<string, unknown> | undefined;
  signatureValid: boolean;
  /** The status answered; undefined when the receiver hung or dropped the connection. */
  status: number | undefined;
  /** True when the idempotency key had been applied already and the first answer was replayed. */
  replayed: boolean;
}

/** A scripted answer to the next call: a status (and body), a hang until the client gives up, or a dropped connection. */
export type ScriptedReply = number | { status: number; body?: string; headers?: Record<string, string> } | 'hang' | 'drop';

const TOLERANCE_SECONDS = 300;

export class WebhookReceiver {
  readonly calls: WebhookCall[] = [];
  private readonly access = new Map<string, Set<string>>();
  private readonly applied = new Map<string, { status: number; body: string }>();
  private readonly scripted: ScriptedReply[] = [];
  private readonly refusedRoles = new Set<string>();
  private server!: Server;
  private port = 0;
  /** Every call is answered only after this long, as a slow target answers (after it acted). */
  latencyMs = 0;

  private constructor(private readonly secret: string) {}

  static async start(secret: string): Promise<WebhookReceiver> {
    const receiver = new WebhookReceiver(secret);
    receiver.server = createServer((req, res) => void receiver.handle(req, res));
    await new Promise<void>((resolve) => receiver.server.listen(0, '127.0.0.1', resolve));
    receiver.port = (receiver.server.address() as AddressInfo).port;
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/latch/hook`;
  }

  /** Answers the next `count` calls with `reply`, before looking at what they ask. */
  failNext(count: number, reply: ScriptedReply): void {
    for (let i = 0; i < count; i++) this.scripted.push(reply);
  }

  /** Grants of this role get 422, as a target without the role would answer. */
  refuseRole(role: string): void {
    this.refusedRoles.add(role);
  }

  hasAccess(user: string, role: string, resource?: string): boolean {
    const held = this.access.get(user);
    if (!held) return false;
    if (resource !== undefined) return held.has(entry(resource, role));
    return [...held].some((key) => key.endsWith(`\u0000${role}`));
  }

  callsFor(action: string): WebhookCall[] {
    return this.calls.filter((call) => call.action === action);
  }

  reset(): void {
    this.calls.length = 0;
    this.scripted.length = 0;
    this.access.clear();
    this.applied.clear();
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const rawBody = await readBody(req);
    const timestamp = header(req, 'x-latch-timestamp');
    const signatureValid = this.signatureIsValid(timestamp, header(req, 'x-latch-signature'), rawBody);
    let body: Record<string, unknown> | undefined;
    try {
      body = JSON.parse(rawBody) as Record<string, unknown>;
    } catch {
      body = undefined;
    }
    const call: WebhookCall = {
      action: typeof body?.action === 'string' ? body.action : '',
      idempotencyKey: header(req, 'idempotency-key'),
      headers: req.headers,
      rawBody,
      body,
      signatureValid,
      status: undefined,
      replayed: false,
    };
    this.calls.push(call);
    const answer = (status: number, json: unknown) => {
      call.status = status;
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(json));
    };

    if (!signatureValid) return answer(401, { error: 'bad signature' });
    const scripted = this.scripted.shift();
    if (scripted === 'hang') return; // the client's timeout ends it
    if (scripted === 'drop') {
      req.socket.destroy();
      return;
    }
    if (scripted !== undefined) {
      const reply = typeof scripted === 'number' ? { status: scripted } : scripted;
      call.status = reply.status;
      res.writeHead(reply.status, { 'content-type': 'text/plain', ...reply.headers }).end(reply.body ?? `scripted ${reply.status}`);
      return;
    }
    if (req.headers['content-type'] !== 'application/json' || !body) return answer(400, { error: 'expected a JSON body' });
    if (!call.idempotencyKey) return answer(400, { error: 'idempotency-key is missing' });

    const { action, user, resource, role } = body;
    if (typeof user !== 'string' || typeof resource !== 'string' || typeof role !== 'string') {
      return answer(400, { error: 'user, resource and role must be strings' });
    }
    // A check reads the current state, so its (repeating) key is not a reason to replay an answer.
    if (action === 'check') return answer(200, { active: this.hasAccess(user, role, resource) });
    if (action !== 'grant' && action !== 'revoke') return answer(400, { error: `unknown action ${String(action)}` });

    const earlier = this.applied.get(call.idempotencyKey);
    if (earlier) {
      call.replayed = true;
      call.status = earlier.status;
      res.writeHead(earlier.status, { 'content-type': 'application/json' }).end(earlier.body);
      return;
    }
    if (action === 'grant' && this.refusedRoles.has(role)) return answer(422, { error: `role ${role} does not exist here` });

    const held = this.access.get(user) ?? new Set<string>();
    if (action === 'grant') held.add(entry(resource, role));
    else held.delete(entry(resource, role));
    this.access.set(user, held);
    const reply = JSON.stringify({ ok: true });
    this.applied.set(call.idempotencyKey, { status: 200, body: reply });
    if (this.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, this.latencyMs));
    call.status = 200;
    if (!res.destroyed) res.writeHead(200, { 'content-type': 'application/json' }).end(reply);
  }

  private signatureIsValid(timestamp: string | undefined, signature: string | undefined, rawBody: string): boolean {
    if (!timestamp || !signature || !/^\d+$/.test(timestamp)) return false;
    if (Math.abs(Date.now() / 1000 - Number(timestamp)) > TOLERANCE_SECONDS) return false;
    const expected = `v1=${createHmac('sha256', this.secret).update(`${timestamp}.${rawBody}`).digest('hex')}`;
    const given = Buffer.from(signature);
    return given.length === expected.length && timingSafeEqual(given, Buffer.from(expected));
  }
}

const entry = (resource: string, role: string) => `${resource}\u0000${role}`;

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
