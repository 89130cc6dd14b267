import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'node:net';

/**
 * PagerDuty's REST API v2 on loopback, the two operations Latch reads, as PagerDuty documents
 * them: GET /oncalls (schedule_ids[], escalation_policy_ids[], user_ids[], since, until, earliest,
 * include[]=users, limit/offset pagination with `more`) and GET /incidents (statuses[],
 * service_ids[], the same pagination). Strict where PagerDuty is: `Authorization: Token token=…`
 * (401 otherwise), the v2 Accept header, a limit of at most 100, known parameters only. Anything
 * else Latch sends is kept in `violations`, which tests expect to be empty. Tests can make it rate
 * limit (429), fail, answer slowly, or drop connections.
 */

export interface FakeOnCallEntry {
  userId: string;
  scheduleId: string | null;
  escalationPolicyId: string;
  level: number;
  start: Date | null;
  end: Date | null;
}

export interface FakeIncident {
  id: string;
  serviceId: string;
  status: 'triggered' | 'acknowledged' | 'resolved';
}

const ONCALL_PARAMS = new Set(['time_zone', 'include[]', 'user_ids[]', 'escalation_policy_ids[]', 'schedule_ids[]', 'since', 'until', 'earliest', 'limit', 'offset', 'total']);
const INCIDENT_PARAMS = new Set(['statuses[]', 'service_ids[]', 'team_ids[]', 'user_ids[]', 'urgencies[]', 'since', 'until', 'date_range', 'include[]', 'limit', 'offset', 'total', 'time_zone', 'sort_by[]', 'incident_key']);
const MAX_LIMIT = 100;

export class FakePagerDuty {
  readonly apiKey = 'u+fake-pagerduty-read-only-key';
  readonly users = new Map<string, { id: string; email: string; name: string }>();
  readonly oncalls: FakeOnCallEntry[] = [];
  readonly incidents: FakeIncident[] = [];
  readonly violations: string[] = [];
  /** Every request, as `GET /path?query`. */
  readonly requests: string[] = [];
  /** Answers for the next requests, in order, before anything is looked up (429, 500…). */
  readonly failures: Array<{ status: number; headers?: Record<string, string>; body?: unknown }> = [];
  /** Every request is answered this much later (a slow PagerDuty). */
  delayMs = 0;
  /** Connections are closed without an answer (PagerDuty unreachable). */
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

  static async start(): Promise<FakePagerDuty> {
    let fake: FakePagerDuty | undefined;
    const server = createServer((request, response) => void fake!.handle(request, response));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    fake = new FakePagerDuty(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return fake;
  }

  addUser(id: string, email: string): void {
    this.users.set(id, { id, email, name: email.split('@')[0]! });
  }

  putOnCall(entry: FakeOnCallEntry): void {
    this.oncalls.push(entry);
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
    const url = new URL(request.url ?? '/', 'http://pagerduty.invalid');
    if (request.headers.authorization !== `Token token=${this.apiKey}`) {
      return json(response, 401, { error: { message: 'Unauthenticated', code: 2006 } });
    }
    if (request.headers.accept !== 'application/vnd.pagerduty+json;version=2') this.violations.push(`Accept: ${request.headers.accept} on ${url.pathname}`);
    const failure = this.failures.shift();
    if (failure) return json(response, failure.status, failure.body ?? { error: { message: 'Failure', code: 2001 } }, failure.headers);
    if (request.method !== 'GET') return this.invalid(response, `${request.method} ${url.pathname}`);
    if (url.pathname === '/oncalls') return this.listOnCalls(url, response);
    if (url.pathname === '/incidents') return this.listIncidents(url, response);
    this.violations.push(`no such route: GET ${url.pathname}`);
    json(response, 404, { error: { message: 'Not Found', code: 2100 } });
  }

  private invalid(response: ServerResponse, what: string): void {
    this.violations.push(what);
    json(response, 400, { error: { message: 'Invalid Input Provided', code: 2001, errors: [what] } });
  }

  private page(url: URL, response: ServerResponse, known: Set<string>): { limit: number; offset: number } | null {
    for (const key of url.searchParams.keys()) {
      if (!known.has(key)) {
        this.invalid(response, `unknown parameter ${key} on ${url.pathname}`);
        return null;
      }
    }
    const limit = Number(url.searchParams.get('limit') ?? 25);
    const offset = Number(url.searchParams.get('offset') ?? 0);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT || !Number.isInteger(offset) || offset < 0) {
      this.invalid(response, `limit ${limit} / offset ${offset} on ${url.pathname}`);
      return null;
    }
    return { limit, offset };
  }

  private listOnCalls(url: URL, response: ServerResponse): void {
    const paging = this.page(url, response, ONCALL_PARAMS);
    if (!paging) return;
    const schedules = url.searchParams.getAll('schedule_ids[]');
    const policies = url.searchParams.getAll('escalation_policy_ids[]');
    const users = url.searchParams.getAll('user_ids[]');
    const since = url.searchParams.get('since');
    const until = url.searchParams.get('until');
    const from = since ? new Date(since) : new Date();
    const to = until ? new Date(until) : from;
    if (Number.isNaN(from.getTime()) || Number.isNaN(to.getTime()) || to < from) return this.invalid(response, `since ${since} / until ${until}`);
    const includeUsers = url.searchParams.getAll('include[]').includes('users');
    // The filters narrow one another; an entry is listed when its on-call overlaps [since, until].
    let entries = this.oncalls.filter(
      (entry) =>
        (schedules.length === 0 || (entry.scheduleId !== null && schedules.includes(entry.scheduleId))) &&
        (policies.length === 0 || policies.includes(entry.escalationPolicyId)) &&
        (users.length === 0 || users.includes(entry.userId)) &&
        (entry.start === null || entry.start <= to) &&
        (entry.end === null || entry.end >= from),
    );
    if (url.searchParams.get('earliest') === 'true') {
      const seen = new Set<string>();
      entries = [...entries]
        .sort((a, b) => (a.start?.getTime() ?? 0) - (b.start?.getTime() ?? 0))
        .filter((entry) => {
          const key = `${entry.userId}/${entry.escalationPolicyId}/${entry.level}`;
          if (seen.has(key)) return false;
          seen.add(key);
          return true;
        });
    }
    const shown = entries.slice(paging.offset, paging.offset + paging.limit).map((entry) => {
      const user = this.users.get(entry.userId);
      const reference = { id: entry.userId, type: 'user_reference', summary: user?.name ?? entry.userId, self: `https://api.pagerduty.com/users/${entry.userId}` };
      return {
        escalation_policy: { id: entry.escalationPolicyId, type: 'escalation_policy_reference', summary: entry.escalationPolicyId },
        escalation_level: entry.level,
        schedule: entry.scheduleId ? { id: entry.scheduleId, type: 'schedule_reference', summary: entry.scheduleId } : null,
        user: includeUsers && user ? { ...reference, type: 'user', name: user.name, email: user.email, time_zone: 'UTC', role: 'user' } : reference,
        start: entry.start?.toISOString() ?? null,
        end: entry.end?.toISOString() ?? null,
      };
    });
    json(response, 200, { oncalls: shown, limit: paging.limit, offset: paging.offset, more: paging.offset + paging.limit < entries.length, total: null });
  }

  private listIncidents(url: URL, response: ServerResponse): void {
    const paging = this.page(url, response, INCIDENT_PARAMS);
    if (!paging) return;
    const statuses = url.searchParams.getAll('statuses[]');
    const services = url.searchParams.getAll('service_ids[]');
    const bad = statuses.find((status) => !['triggered', 'acknowledged', 'resolved'].includes(status));
    if (bad) return this.invalid(response, `statuses[]=${bad}`);
    const incidents = this.incidents.filter((incident) => (statuses.length === 0 || statuses.includes(incident.status)) && (services.length === 0 || services.includes(incident.serviceId)));
    const shown = incidents.slice(paging.offset, paging.offset + paging.limit).map((incident) => ({
      id: incident.id,
      type: 'incident',
      status: incident.status,
      title: `Incident ${incident.id}`,
      service: { id: incident.serviceId, type: 'service_reference', summary: incident.serviceId },
    }));
    json(response, 200, { incidents: shown, limit: paging.limit, offset: paging.offset, more: paging.offset + paging.limit < incidents.length, total: null });
  }
}

function json(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(JSON.stringify(body));
}
