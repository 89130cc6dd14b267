import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * Opsgenie's REST API on loopback, the two operations Latch reads, as Opsgenie documents them:
 * GET /v2/schedules/{identifier}/on-calls (scheduleIdentifierType id|name, flat, date), answering
 * `data.onCallRecipients` (flat) or `data.onCallParticipants`, and GET /v1/incidents (query,
 * offset, limit up to 100, sort, order), answering `data` and `paging`. Strict where Opsgenie is:
 * `Authorization: GenieKey …` (401 otherwise), 404 for an unknown schedule. What Latch sends that
 * Opsgenie would not take is kept in `violations`. Tests can make it rate limit (429), fail, answer
 * slowly, or drop connections.
 */

export interface FakeOpsgenieIncident {
  id: string;
  status: 'open' | 'resolved' | 'closed';
  impactedServices: string[];
}

const MAX_LIMIT = 100;

export class FakeOpsgenie {
  readonly apiKey = 'fake-opsgenie-read-key-0000';
  /** Schedule id → the usernames (emails) on call now. */
  readonly schedules = new Map<string, { name: string; onCall: string[] }>();
  readonly incidents: FakeOpsgenieIncident[] = [];
  readonly violations: string[] = [];
  readonly requests: string[] = [];
  readonly failures: Array<{ status: number; headers?: Record<string, string>; body?: unknown }> = [];
  delayMs = 0;
  down = false;
  readonly #sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly apiUrl: string,
  ) {
    server.on('connection', (socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
  }

  static async start(): Promise<FakeOpsgenie> {
    let fake: FakeOpsgenie | undefined;
    const server = createServer((request, response) => void fake!.handle(request, response));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    fake = new FakeOpsgenie(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return fake;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    this.requests.push(`${request.method} ${request.url}`);
    if (this.down) {
      request.socket.destroy();
      return;
    }
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    if (response.destroyed) return;
    const url = new URL(request.url ?? '/', 'http://opsgenie.invalid');
    if (request.headers.authorization !== `GenieKey ${this.apiKey}`) return answer(response, 401, { message: 'Could not authenticate' });
    const failure = this.failures.shift();
    if (failure) return answer(response, failure.status, failure.body ?? { message: 'Failure' }, failure.headers);
    const onCalls = /^\/v2\/schedules\/([^/]+)\/on-calls$/.exec(url.pathname);
    if (request.method === 'GET' && onCalls) return this.onCalls(decodeURIComponent(onCalls[1]!), url, response);
    if (request.method === 'GET' && url.pathname === '/v1/incidents') return this.listIncidents(url, response);
    this.violations.push(`no such route: ${request.method} ${url.pathname}`);
    answer(response, 404, { message: 'Not found' });
  }

  private onCalls(identifier: string, url: URL, response: ServerResponse): void {
    for (const key of url.searchParams.keys()) if (!['scheduleIdentifierType', 'flat', 'date'].includes(key)) this.violations.push(`unknown parameter ${key} on on-calls`);
    const type = url.searchParams.get('scheduleIdentifierType') ?? 'id';
    if (type !== 'id' && type !== 'name') return answer(response, 422, { message: `scheduleIdentifierType ${type}` });
    const date = url.searchParams.get('date');
    if (date !== null && Number.isNaN(new Date(date).getTime())) return answer(response, 422, { message: 'date' });
    const found = type === 'id' ? [identifier, this.schedules.get(identifier)] as const : [...this.schedules.entries()].find(([, schedule]) => schedule.name === identifier);
    const schedule = found?.[1];
    if (!found || !schedule) return answer(response, 404, { message: `No schedule exists with identifier [${identifier}]` });
    const parent = { id: found[0], name: schedule.name, enabled: true };
    if (url.searchParams.get('flat') === 'true') return answer(response, 200, { data: { _parent: parent, onCallRecipients: schedule.onCall } });
    answer(response, 200, { data: { _parent: parent, onCallParticipants: schedule.onCall.map((name) => ({ id: name, name, type: 'user' })) } });
  }

  private listIncidents(url: URL, response: ServerResponse): void {
    for (const key of url.searchParams.keys()) if (!['query', 'offset', 'limit', 'sort', 'order'].includes(key)) this.violations.push(`unknown parameter ${key} on incidents`);
    const limit = Number(url.searchParams.get('limit') ?? 20);
    const offset = Number(url.searchParams.get('offset') ?? 0);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT || !Number.isInteger(offset) || offset < 0) return answer(response, 422, { message: 'limit/offset' });
    const query = url.searchParams.get('query') ?? '';
    const status = /^status:(\w+)$/.exec(query)?.[1];
    if (query !== '' && !status) this.violations.push(`query ${query} is more than this fake knows`);
    const matching = this.incidents.filter((incident) => !status || incident.status === status);
    const data = matching.slice(offset, offset + limit).map((incident) => ({ id: incident.id, tinyId: incident.id, message: `Incident ${incident.id}`, status: incident.status, tags: [], impactedServices: incident.impactedServices }));
    const link = (at: number) => `${this.apiUrl}/v1/incidents?query=${encodeURIComponent(query)}&offset=${at}&limit=${limit}`;
    const paging = { first: link(0), ...(offset + limit < matching.length ? { next: link(offset + limit) } : {}), last: link(Math.max(0, matching.length - limit)) };
    answer(response, 200, { data, paging, totalCount: matching.length });
  }
}

function answer(response: ServerResponse, status: number, body: object, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(JSON.stringify({ ...body, took: 0.01, requestId: '00000000-0000-4000-8000-000000000000' }));
}
