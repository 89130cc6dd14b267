import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

/**
 * Slack's side of Socket Mode on loopback, speaking its protocol (api.slack.com/apis/socket-mode):
 * `apps.connections.open` hands out a URL with a one-time ticket (`connectionUrl`, which the fake
 * Web API answers with); on connecting, the app gets `hello`; then each payload arrives as an
 * envelope `{ envelope_id, type, payload, accepts_response_payload }` that the app acknowledges
 * with `{ envelope_id, payload? }`; `{ type: 'disconnect', reason }` asks it to reconnect.
 * Every ack is recorded, so a test can check each envelope was acked exactly once.
 */

export type EnvelopeType = 'slash_commands' | 'interactive' | 'events_api';

export interface SocketModeEnvelope {
  envelope_id: string;
  type: EnvelopeType;
  payload: Record<string, unknown>;
  accepts_response_payload: boolean;
  retry_attempt?: number;
  retry_reason?: string;
}

export interface SocketModeAck {
  envelope_id: string;
  /** What the app answered with (a modal's errors, options); `{}` or absent for a bare ack. */
  payload?: Record<string, unknown>;
}

const ACK_TIMEOUT_MS = 10_000;

export class FakeSocketMode {
  /** Every envelope sent, in order. */
  readonly sent: SocketModeEnvelope[] = [];
  /** Every ack received, in order. */
  readonly acks: SocketModeAck[] = [];
  /** Connections opened with a valid ticket, in order. */
  connections = 0;
  private readonly tickets = new Set<string>();
  private readonly waiters: Array<() => void> = [];
  private socket: WebSocket | null = null;
  private server!: Server;
  private wss!: WebSocketServer;
  private port = 0;

  static async start(): Promise<FakeSocketMode> {
    const fake = new FakeSocketMode();
    fake.server = createServer((_req, res) => res.writeHead(426).end());
    fake.wss = new WebSocketServer({ noServer: true });
    fake.server.on('upgrade', (req, socket, head) => {
      // A URL is good for one connection, as the ticket Slack puts in it is.
      const ticket = new URL(req.url ?? '/', 'http://fake').searchParams.get('ticket') ?? '';
      if (!fake.tickets.delete(ticket)) {
        socket.end('HTTP/1.1 401 Unauthorized\r\n\r\n');
        return;
      }
      fake.wss.handleUpgrade(req, socket, head, (ws) => fake.accept(ws));
    });
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
    fake.port = (fake.server.address() as AddressInfo).port;
    return fake;
  }

  /** A fresh URL, as apps.connections.open answers: good for one connection. */
  connectionUrl(): string {
    const ticket = randomUUID();
    this.tickets.add(ticket);
    return `ws://127.0.0.1:${this.port}/link/?ticket=${ticket}&app_id=A0LATCH`;
  }

  /** Whether an app is connected now. */
  get connected(): boolean {
    return this.socket !== null;
  }

  /** Resolves once `count` connections have been opened in all (and one is open now). */
  waitForConnection(count: number, timeoutMs = 20_000): Promise<void> {
    return this.until(() => this.connections >= count && this.connected, timeoutMs, `connection #${count}`);
  }

  /** Resolves once no app is connected. */
  waitForDisconnection(timeoutMs = 10_000): Promise<void> {
    return this.until(() => !this.connected, timeoutMs, 'the app to disconnect');
  }

  /**
   * Sends `payload` in an envelope and resolves with the app's ack. `accepts_response_payload`
   * follows Slack: true for slash commands, modal submissions and options requests.
   */
  async send(type: EnvelopeType, payload: Record<string, unknown>): Promise<SocketModeAck> {
    const envelopeId = this.sendEnvelope(type, payload);
    await this.until(() => this.acksOf(envelopeId).length > 0, ACK_TIMEOUT_MS, `the ack of ${type} envelope ${envelopeId}`);
    return this.acksOf(envelopeId)[0]!;
  }

  /** Sends an envelope without waiting for its ack; returns its id. */
  sendEnvelope(type: EnvelopeType, payload: Record<string, unknown>): string {
    if (!this.socket) throw new Error('no app is connected to the fake Socket Mode server');
    const envelope: SocketModeEnvelope = {
      envelope_id: randomUUID(),
      type,
      payload,
      accepts_response_payload: acceptsResponsePayload(type, payload),
      ...(type === 'events_api' ? { retry_attempt: 0, retry_reason: '' } : {}),
    };
    this.sent.push(envelope);
    this.socket.send(JSON.stringify(envelope));
    return envelope.envelope_id;
  }

  acksOf(envelopeId: string): SocketModeAck[] {
    return this.acks.filter((ack) => ack.envelope_id === envelopeId);
  }

  /** Envelopes acked other than exactly once (none when every one was). */
  envelopesNotAckedOnce(): Array<{ envelope_id: string; type: EnvelopeType; acks: number }> {
    return this.sent
      .map((envelope) => ({ envelope_id: envelope.envelope_id, type: envelope.type, acks: this.acksOf(envelope.envelope_id).length }))
      .filter((entry) => entry.acks !== 1);
  }

  /** Asks the app to reconnect, as Slack does before it recycles a connection. */
  requestDisconnect(reason: 'refresh_requested' | 'warning' | 'link_disabled' = 'refresh_requested'): void {
    this.socket?.send(JSON.stringify({ type: 'disconnect', reason, debug_info: { host: 'applink-fake' } }));
  }

  async close(): Promise<void> {
    for (const client of this.wss.clients) client.terminate();
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(ws: WebSocket): void {
    this.connections += 1;
    this.socket = ws;
    ws.on('message', (data) => {
      const message = JSON.parse(String(data)) as SocketModeAck;
      if (typeof message.envelope_id === 'string') this.acks.push(message);
      this.notify();
    });
    ws.on('close', () => {
      if (this.socket === ws) this.socket = null;
      this.notify();
    });
    ws.send(
      JSON.stringify({
        type: 'hello',
        num_connections: 1,
        debug_info: { host: 'applink-fake', build_number: 1, approximate_connection_time: 18060 },
        connection_info: { app_id: 'A0LATCH' },
      }),
    );
    this.notify();
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  private until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!condition()) return;
        clearTimeout(timer);
        this.waiters.splice(this.waiters.indexOf(check), 1);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(check), 1);
        reject(new Error(`fake Socket Mode: waited ${timeoutMs} ms for ${what} (connections: ${this.connections}, acks: ${this.acks.length})`));
      }, timeoutMs);
      this.waiters.push(check);
    });
  }
}

function acceptsResponsePayload(type: EnvelopeType, payload: Record<string, unknown>): boolean {
  if (type === 'slash_commands') return true;
  if (type === 'interactive') return payload.type === 'view_submission' || payload.type === 'block_suggestion';
  return false;
}
