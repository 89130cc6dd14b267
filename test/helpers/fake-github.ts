import { createRequire } from 'node:module';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A small stateful GitHub REST API on loopback: one organisation's teams and their memberships,
 * with invitations that stay pending until accepted. Every exchange is held to GitHub's own
 * OpenAPI description (@octokit/openapi, the GitHub Enterprise Cloud edition, which also describes
 * team synchronisation): the route and method must exist, a request body may only hold the
 * properties and enum values the description allows, and the status code answered must be one the
 * description declares for the operation (rate limits, which GitHub documents for every route, aside).
 * What breaks the contract is kept in `violations`, which tests expect to be empty.
 */

interface OpenApiOperation {
  responses: Record<string, unknown>;
  requestBody?: { content: { 'application/json': { schema: { properties?: Record<string, { enum?: unknown[]; type?: string }> } } } };
}
type OpenApiPaths = Record<string, Record<string, OpenApiOperation>>;

const require = createRequire(import.meta.url);
const spec = require('@octokit/openapi/generated/ghec.json') as { paths: OpenApiPaths };

export interface FakeTeam {
  /** Lower-cased login → the membership as GitHub shows it. */
  members: Map<string, { login: string; state: 'active' | 'pending' }>;
  /** Identity-provider groups synced into the team (team synchronisation). */
  syncedGroups: string[];
}

interface InjectedFailure {
  status: number;
  headers: Record<string, string>;
}

export class FakeGithub {
  readonly token = 'ghp_fake-token-for-tests';
  readonly org = 'latch-test-org';
  /** Logins GitHub knows, and which of them already belong to the organisation (lower-cased). */
  readonly users = new Map<string, string>();
  readonly orgMembers = new Set<string>();
  readonly teams = new Map<string, FakeTeam>();
  readonly violations: string[] = [];
  /** Every request, as `METHOD /path` (the path with its query string). */
  readonly requests: string[] = [];
  readonly #failures: InjectedFailure[] = [];
  /** When set, DELETE answers 204 but keeps the membership (a removal that did not happen). */
  ignoreRemovals = false;

  private constructor(
    private readonly server: Server,
    readonly apiUrl: string,
  ) {}

  static async start(): Promise<FakeGithub> {
    let fake: FakeGithub | undefined;
    const server = createServer((request, response) => {
      void fake!.#handle(request, response);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    fake = new FakeGithub(server, `http://127.0.0.1:${port}`);
    return fake;
  }

  addUser(login: string, { inOrg }: { inOrg: boolean }): void {
    this.users.set(login.toLowerCase(), login);
    if (inOrg) this.orgMembers.add(login.toLowerCase());
  }

  addTeam(slug: string, syncedGroups: string[] = []): FakeTeam {
    const team: FakeTeam = { members: new Map(), syncedGroups };
    this.teams.set(slug, team);
    return team;
  }

  /** The person accepts their invitation: their pending memberships become active. */
  acceptInvitation(login: string): void {
    this.orgMembers.add(login.toLowerCase());
    for (const team of this.teams.values()) {
      const membership = team.members.get(login.toLowerCase());
      if (membership) membership.state = 'active';
    }
  }

  isActiveMember(slug: string, login: string): boolean {
    return this.teams.get(slug)?.members.get(login.toLowerCase())?.state === 'active';
  }

  /** The next request is answered with this status (and headers) instead. */
  failNext(status: number, headers: Record<string, string> = {}): void {
    this.#failures.push({ status, headers });
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const url = new URL(request.url ?? '/', this.apiUrl);
    const method = (request.method ?? 'GET').toLowerCase();
    this.requests.push(`${method.toUpperCase()} ${url.pathname}${url.search}`);
    const route = this.#route(url.pathname, method);
    const send = (status: number, body?: unknown, headers: Record<string, string> = {}, documentedEverywhere = false) => {
      if (route && !documentedEverywhere && !(String(status) in route.operation.responses)) {
        this.violations.push(`${method.toUpperCase()} ${route.template} answered ${status}, which GitHub's description does not declare`);
      }
      response.writeHead(status, { 'content-type': 'application/json', ...headers });
      response.end(body === undefined ? undefined : JSON.stringify(body));
    };
    if (!route) {
      this.violations.push(`${method.toUpperCase()} ${url.pathname} is not a route in GitHub's description`);
      send(404, { message: 'Not Found' });
      return;
    }
    const auth = request.headers.authorization ?? '';
    if (auth !== `token ${this.token}` && auth !== `bearer ${this.token}` && auth !== `Bearer ${this.token}`) {
      send(401, { message: 'Bad credentials' }, {}, true);
      return;
    }
    const body = chunks.length > 0 ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>) : {};
    this.#checkBody(route, method, body);
    const failure = this.#failures.shift();
    if (failure) {
      send(failure.status, { message: 'injected failure' }, failure.headers, true);
      return;
    }
    const { org, team_slug: slug, username } = route.params;
    const team = org === this.org && slug !== undefined ? this.teams.get(slug) : undefined;
    switch (`${method} ${route.template}`) {
      case 'get /orgs/{org}/teams/{team_slug}':
        return team ? send(200, { slug, name: slug }) : send(404, { message: 'Not Found' });
      case 'get /orgs/{org}/teams/{team_slug}/team-sync/group-mappings':
        return team ? send(200, { groups: team.syncedGroups.map((id) => ({ group_id: id, group_name: id, group_description: id })) }) : send(422, { message: 'Validation Failed' });
      case 'get /orgs/{org}/teams/{team_slug}/members': {
        if (!team) return send(404, { message: 'Not Found' }, {}, true);
        const perPage = Number(url.searchParams.get('per_page') ?? 30);
        const page = Number(url.searchParams.get('page') ?? 1);
        const active = [...team.members.values()].filter((m) => m.state === 'active');
        return send(200, active.slice((page - 1) * perPage, page * perPage).map((m) => ({ login: m.login, type: 'User' })));
      }
      case 'get /orgs/{org}/teams/{team_slug}/memberships/{username}': {
        const membership = team?.members.get(username!.toLowerCase());
        return membership ? send(200, this.#membership(membership.state)) : send(404, { message: 'Not Found' });
      }
      case 'put /orgs/{org}/teams/{team_slug}/memberships/{username}': {
        const login = this.users.get(username!.toLowerCase());
        if (!team || !login) return send(422, { message: 'Validation Failed' });
        if (team.syncedGroups.length > 0) return send(403, { message: 'team synchronization is enabled for this team' });
        const key = login.toLowerCase();
        const existing = team.members.get(key);
        const state = existing?.state === 'active' || this.orgMembers.has(key) ? 'active' : 'pending';
        team.members.set(key, { login, state });
        return send(200, this.#membership(state));
      }
      case 'delete /orgs/{org}/teams/{team_slug}/memberships/{username}':
        if (!this.ignoreRemovals) team?.members.delete(username!.toLowerCase());
        return send(204);
      default:
        this.violations.push(`${method.toUpperCase()} ${route.template} is not one the fake serves`);
        return send(404, { message: 'Not Found' }, {}, true);
    }
  }

  #membership(state: 'active' | 'pending') {
    return { url: `${this.apiUrl}/membership`, role: 'member', state };
  }

  #route(pathname: string, method: string): { template: string; params: Record<string, string>; operation: OpenApiOperation } | undefined {
    const segments = pathname.split('/').map(decodeURIComponent);
    for (const [template, operations] of Object.entries(spec.paths)) {
      const parts = template.split('/');
      if (parts.length !== segments.length) continue;
      const params: Record<string, string> = {};
      const matches = parts.every((part, index) => {
        const name = /^\{(.+)\}$/.exec(part)?.[1];
        if (name) params[name] = segments[index]!;
        return name !== undefined || part === segments[index];
      });
      const operation = operations[method];
      if (matches && operation) return { template, params, operation };
    }
    return undefined;
  }

  #checkBody(route: { template: string; operation: OpenApiOperation }, method: string, body: Record<string, unknown>): void {
    const properties = route.operation.requestBody?.content['application/json'].schema.properties ?? {};
    for (const [key, value] of Object.entries(body)) {
      const property = properties[key];
      if (!property) this.violations.push(`${method.toUpperCase()} ${route.template} sent "${key}", which GitHub's description does not have`);
      else if (property.enum && !property.enum.includes(value)) this.violations.push(`${method.toUpperCase()} ${route.template} sent ${key}=${String(value)}, not one of ${property.enum.join(', ')}`);
    }
  }
}
