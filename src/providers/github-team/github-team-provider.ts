import { Octokit } from '@octokit/core';
import { RequestError } from '@octokit/request-error';
import { ok, type AccessProvider, type ProviderFactory, type ProviderFailure, type ProviderGrant, type ProviderResult, type RevocationCheck } from '../provider.ts';
import { parseProviderSettings } from '../settings-problems.ts';
import { githubFailure } from './failures.ts';
import { githubTeamSettingsSchema } from './settings.ts';

/**
 * Access as membership of a GitHub team: granting adds the login to the team its role maps to
 * (PUT team membership), revoking removes it, and nobody else's membership is touched: GitHub
 * changes one membership at a time, so no read-modify-write and no lock is needed.
 *
 * A login that is not yet in the organisation gets an invitation: its membership is `pending`
 * until the person accepts. Pending is not access: `check` says not granted, and `grant` fails
 * transiently ("waiting for the invitation") so the job retries until it is accepted; revoking
 * cancels the invitation. A team whose members an identity provider syncs is refused: GitHub
 * would undo the change at the next sync.
 */

/** A hung call to GitHub fails (transiently) after this long instead of holding a job. */
export const GITHUB_CALL_TIMEOUT_MS = 10_000;
/** GitHub's largest page of team members. */
const PAGE_SIZE = 100;
/** GitHub logins: letters, digits and single hyphens, at most 39 characters. */
const LOGIN_PATTERN = /^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$/;

export interface GithubTeamProviderOptions {
  octokit: Octokit;
  org: string;
  team?: string | undefined;
  roles?: Record<string, string> | undefined;
}

type Membership = 'active' | 'pending' | 'none';

class OperationFailed extends Error {
  constructor(
    readonly failure: ProviderFailure,
    options?: ErrorOptions,
  ) {
    super(failure.message, options);
  }
}

export class GithubTeamProvider implements AccessProvider {
  readonly type = 'github-team';
  readonly #octokit: Octokit;
  readonly #org: string;
  readonly #team: string | undefined;
  readonly #roles: Readonly<Record<string, string>>;

  constructor(options: GithubTeamProviderOptions) {
    this.#octokit = options.octokit;
    this.#org = options.org;
    this.#team = options.team;
    this.#roles = { ...options.roles };
  }

  grant(grant: ProviderGrant): Promise<ProviderResult> {
    return this.#run(grant, 'add', async (team, login) => {
      if ((await this.#membership(team, login)) === 'active') return;
      await this.#refuseSyncedTeam(team);
      const { data } = await this.#call(`add ${login} to ${this.#where(team)}`, (signal) =>
        this.#octokit.request('PUT /orgs/{org}/teams/{team_slug}/memberships/{username}', {
          org: this.#org,
          team_slug: team,
          username: login,
          role: 'member',
          request: { signal },
        }),
      );
      if (data.state !== 'active') {
        throw new OperationFailed({
          kind: 'transient',
          message: `${login} is invited to ${this.#where(team)} but has not accepted the invitation yet: access starts once they do`,
        });
      }
    });
  }

  revoke(grant: ProviderGrant): Promise<ProviderResult> {
    return this.#run(grant, 'remove', async (team, login) => {
      // Pending invitations are removed too: an invitation accepted after the revoke would be access.
      if ((await this.#membership(team, login)) === 'none') return;
      await this.#call(`remove ${login} from ${this.#where(team)}`, (signal) =>
        this.#octokit.request('DELETE /orgs/{org}/teams/{team_slug}/memberships/{username}', {
          org: this.#org,
          team_slug: team,
          username: login,
          request: { signal },
        }),
      );
      // Verified, not assumed: a revocation GitHub reports done while the membership remains is retried.
      if ((await this.#membership(team, login)) !== 'none') {
        throw new OperationFailed({ kind: 'transient', message: `GitHub accepted the removal but ${login} is still in ${this.#where(team)}` });
      }
    });
  }

  check(grant: ProviderGrant): Promise<ProviderResult<boolean>> {
    return this.#run(grant, 'check', async (team, login) => (await this.#membership(team, login)) === 'active');
  }

  /**
   * After a revocation: no membership is left, active or pending (a pending invitation would
   * become access the moment it is accepted).
   */
  verifyRevoked(grant: ProviderGrant): Promise<ProviderResult<RevocationCheck>> {
    return this.#run(grant, 'verify the removal', async (team, login): Promise<RevocationCheck> => {
      const membership = await this.#membership(team, login);
      return membership === 'none' ? { gone: true } : { gone: false, remains: `${login} is still ${membership === 'active' ? 'a member' : 'invited'} in ${this.#where(team)}` };
    });
  }

  /** The team's active members (pending invitations are not access), page by page. */
  async list(role: string): Promise<ProviderResult<string[]>> {
    const team = this.#teamFor(role);
    if (!team.ok) return team;
    try {
      const members: string[] = [];
      for (let page = 1; ; page += 1) {
        const { data } = await this.#call(`list the members of ${this.#where(team.value)}`, (signal) =>
          this.#octokit.request('GET /orgs/{org}/teams/{team_slug}/members', {
            org: this.#org,
            team_slug: team.value,
            role: 'all',
            per_page: PAGE_SIZE,
            page,
            request: { signal },
          }),
        );
        members.push(...data.map((member) => member.login));
        if (data.length < PAGE_SIZE) return ok(members);
      }
    } catch (error) {
      return failed(error);
    }
  }

  async #run<T>(grant: Pick<ProviderGrant, 'principal' | 'role'>, action: string, work: (team: string, login: string) => Promise<T>): Promise<ProviderResult<T>> {
    const team = this.#teamFor(grant.role);
    if (!team.ok) return team;
    if (!LOGIN_PATTERN.test(grant.principal)) {
      // Not echoed: it is not a login.
      return { ok: false, failure: { kind: 'permanent', message: `The principal for ${this.#where(team.value)} is not a GitHub login (map the person's login under identity.map)` } };
    }
    try {
      return ok(await work(team.value, grant.principal));
    } catch (error) {
      const result = failed(error);
      if (!result.ok) result.failure.message = `Could not ${action} ${grant.principal} (${this.#where(team.value)}): ${result.failure.message}`;
      return result;
    }
  }

  #teamFor(role: string): ProviderResult<string> {
    const team = Object.hasOwn(this.#roles, role) ? this.#roles[role] : this.#team;
    if (team === undefined) {
      return { ok: false, failure: { kind: 'permanent', message: `Role "${role}" has no GitHub team: map it under the provider's settings.roles, or set settings.team` } };
    }
    return ok(team);
  }

  #where(team: string): string {
    return `GitHub team ${this.#org}/${team}`;
  }

  /** The login's membership of the team: a 404 means none (GitHub's answer for a non-member). */
  async #membership(team: string, login: string): Promise<Membership> {
    try {
      const { data } = await this.#call(`read the membership of ${login} in ${this.#where(team)}`, (signal) =>
        this.#octokit.request('GET /orgs/{org}/teams/{team_slug}/memberships/{username}', {
          org: this.#org,
          team_slug: team,
          username: login,
          request: { signal },
        }),
      );
      return data.state === 'active' ? 'active' : 'pending';
    } catch (error) {
      if (!(error instanceof OperationFailed) || !(error.cause instanceof RequestError) || error.cause.status !== 404) throw error;
      // 404 also when the team itself is gone: tell the two apart, so a missing team is not "revoked".
      await this.#call(`find ${this.#where(team)}`, (signal) =>
        this.#octokit.request('GET /orgs/{org}/teams/{team_slug}', { org: this.#org, team_slug: team, request: { signal } }),
      );
      return 'none';
    }
  }

  /**
   * Teams whose members an identity provider (Okta, Entra ID, …) syncs are managed there: a
   * change made here would be undone at the next sync. Organisations without team
   * synchronisation answer 403, 404 or 422, which means no sync.
   */
  async #refuseSyncedTeam(team: string): Promise<void> {
    let groups: unknown[] = [];
    try {
      const { data } = await this.#call(`read the identity-provider groups of ${this.#where(team)}`, (signal) =>
        this.#octokit.request('GET /orgs/{org}/teams/{team_slug}/team-sync/group-mappings', { org: this.#org, team_slug: team, request: { signal } }),
      );
      groups = data.groups ?? [];
    } catch (error) {
      if (!(error instanceof OperationFailed) || error.failure.kind === 'transient') throw error;
      const status = error.cause instanceof RequestError ? error.cause.status : 0;
      if (status !== 403 && status !== 404 && status !== 422) throw error;
    }
    if (groups.length > 0) {
      throw new OperationFailed({
        kind: 'permanent',
        message: `${this.#where(team)} is synced with an identity provider: GitHub would undo Latch's change at the next sync. Grant access through the identity provider's group, or use a team that is not synced`,
      });
    }
  }

  /** One call to GitHub with a timeout; its errors become OperationFailed (the RequestError kept as cause). */
  async #call<T>(what: string, request: (signal: AbortSignal) => Promise<T>): Promise<T> {
    try {
      return await request(AbortSignal.timeout(GITHUB_CALL_TIMEOUT_MS));
    } catch (error) {
      const failure = githubFailure(error, what);
      if (!failure) throw error;
      throw new OperationFailed(failure, { cause: error });
    }
  }
}

function failed(error: unknown): ProviderResult<never> {
  if (error instanceof OperationFailed) return { ok: false, failure: { ...error.failure } };
  throw error;
}

export const createGithubTeamProvider: ProviderFactory = (rawSettings, env) => {
  const parsed = parseProviderSettings(githubTeamSettingsSchema, rawSettings, 'github-team');
  if (!parsed.ok) return parsed;
  const { org, team, roles, tokenEnv, apiUrl } = parsed.settings;
  const token = env[tokenEnv];
  if (token === undefined || token.trim() === '') return { ok: false, problems: [`settings.tokenEnv: ${tokenEnv} is not set`] };
  const octokit = new Octokit({
    auth: token,
    userAgent: 'latch-github-team-provider',
    ...(apiUrl === undefined ? {} : { baseUrl: apiUrl.replace(/\/+$/, '') }),
    // Octokit's own notices (deprecations) are not Latch's log; failures come back as results.
    log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
  });
  return { ok: true, provider: new GithubTeamProvider({ octokit, org, team, roles }) };
};
