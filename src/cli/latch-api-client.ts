import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import {
  credentialsResource,
  exchangedToken,
  personToken,
  problemDetails,
  requestResource,
  startedLogin,
  type CredentialsResource,
  type PersonToken,
  type ProblemDetails,
  type RequestResource,
  type StartedLogin,
} from '../api/api-schemas.ts';
import { API_PREFIX } from '../api/openapi.ts';
import { CliError, EXIT } from './cli-error.ts';
import { readStoredLogin } from './stored-login.ts';
import { readWorkloadOidcToken } from './workload-oidc-token.ts';

/**
 * `/api/v1` as `latch request` and `latch release` call it: from a pipeline, with the machine's
 * token from LATCH_TOKEN (never an argument, which `ps` would show to every user of the runner),
 * or, without one, with a token traded for the job's OIDC token (workload-oidc-token.ts), so a
 * GitHub Actions job keeps no Latch secret at all.
 * Every answer is parsed with the schemas the server answers with. A call that meets a network
 * error, a 5xx or a 429 is tried again, a few times, after a pause (Retry-After when given): a
 * deploy should not fail because one `latch web` restarted. A POST is safe to try again because
 * it carries an Idempotency-Key.
 */

export const latchUrl = z
  .url({ protocol: /^https?$/, error: 'must be the http:// or https:// address of Latch, e.g. https://latch.example.com' })
  .transform((url) => url.replace(/\/+$/, '').replace(/\/api\/v1$/, ''));

const clientEnv = z.object({
  LATCH_URL: latchUrl,
  LATCH_TOKEN: z
    .string({ error: 'is missing: set it to a token from `latch token create <machine>` (a secret of your CI, never an argument)' })
    .trim()
    .regex(/^latch_\S+$/, { error: 'does not look like a Latch token (latch_…): create one with `latch token create <machine>`' }),
});

/** The answer to a call: what the API answers with, or the problem it refused the call with. */
export type Answer<T> = { ok: true; status: number; value: T; replayed: boolean } | { ok: false; status: number; problem: ProblemDetails };

/** The answer to a call about a request: the request, or the problem the API refused it with. */
export type ApiAnswer = { ok: true; status: number; request: RequestResource; replayed: boolean } | { ok: false; status: number; problem: ProblemDetails };

/** The answer to a credentials fetch: the login and its password, or the problem. */
export type CredentialsAnswer = { ok: true; credentials: CredentialsResource } | { ok: false; status: number; problem: ProblemDetails };

/** How many times one call is tried before a network or server failure is final. */
const ATTEMPTS = 5;
const FIRST_PAUSE_MS = 1_000;
const LONGEST_PAUSE_MS = 15_000;

export class LatchApiClient {
  private constructor(
    private readonly baseUrl: string,
    private token: string,
    private readonly pause: (ms: number) => Promise<unknown> = sleep,
    /**
     * A fresh token when Latch refuses this one (401): a token traded for an OIDC token lasts no
     * longer than it, a few minutes on GitHub, while a --wait may last half an hour. Only where a
     * fresh OIDC token can be had (GitHub Actions' runner); a given LATCH_OIDC_TOKEN is used once.
     */
    private readonly renew?: () => Promise<string>,
  ) {}

  /** A client from LATCH_URL and LATCH_TOKEN, or a CliError (exit 78) naming what is wrong. */
  static fromEnv(source: NodeJS.ProcessEnv = process.env): LatchApiClient {
    const parsed = clientEnv.safeParse({ LATCH_URL: source.LATCH_URL, LATCH_TOKEN: source.LATCH_TOKEN });
    if (!parsed.success) {
      const problems = parsed.error.issues.map((issue) => {
        const name = String(issue.path[0]);
        return source[name] === undefined || source[name] === '' ? `${name} is missing: ${name === 'LATCH_URL' ? 'set it to the address of Latch, e.g. https://latch.example.com' : 'set it to a token from `latch token create <machine>`, or give the job an OIDC token (LATCH_OIDC_TOKEN, or GitHub Actions with `id-token: write`); a person runs `latch login`'}` : `${name} ${issue.message}`;
      });
      throw new CliError([...new Set(problems)].join('\n'), EXIT.config);
    }
    return new LatchApiClient(parsed.data.LATCH_URL, parsed.data.LATCH_TOKEN);
  }

  /**
   * A client with LATCH_TOKEN when it is set; otherwise with a token traded at `POST /oidc/token`
   * for the job's OIDC token (LATCH_OIDC_TOKEN, or GitHub Actions' own). An exchange Latch refuses
   * is a CliError (exit 78) with the API's reason; neither token is ever in a message.
   */
  static async connect(source: NodeJS.ProcessEnv = process.env, pause: (ms: number) => Promise<unknown> = sleep): Promise<LatchApiClient> {
    if (source.LATCH_TOKEN !== undefined && source.LATCH_TOKEN !== '') return LatchApiClient.fromEnv(source);
    const url = latchUrl.safeParse(source.LATCH_URL);
    const oidcToken = url.success ? await readWorkloadOidcToken(source, url.data) : null;
    if (oidcToken === null) {
      const person = LatchApiClient.fromStoredLogin(source, pause);
      if (person) return person;
    }
    if (!url.success || oidcToken === null) return LatchApiClient.fromEnv(source);
    const anonymous = new LatchApiClient(url.data, '', pause);
    const exchange = async (jwt: string): Promise<string> => {
      const exchanged = await anonymous.call('POST', '/oidc/token', exchangedToken, { body: { token: jwt } });
      if (!exchanged.ok) throw new CliError(`Latch refused the job's OIDC token: ${exchanged.problem.detail}`, EXIT.config);
      return exchanged.value.access_token;
    };
    const fromRunner = !source.LATCH_OIDC_TOKEN?.trim();
    const renew = fromRunner ? async () => exchange((await readWorkloadOidcToken(source, url.data))!) : undefined;
    return new LatchApiClient(url.data, await exchange(oidcToken), pause, renew);
  }

  /**
   * A person's client, with the token `latch login` stored, when there is one for LATCH_URL (or,
   * LATCH_URL unset, for the Latch it was made for); a CliError (78) when it has expired.
   */
  private static fromStoredLogin(source: NodeJS.ProcessEnv, pause: (ms: number) => Promise<unknown>): LatchApiClient | null {
    const login = readStoredLogin(source);
    if (!login) return null;
    const wanted = latchUrl.safeParse(source.LATCH_URL);
    if (source.LATCH_URL && (!wanted.success || wanted.data !== login.url)) return null;
    if (new Date(login.expiresAt).getTime() <= Date.now()) throw new CliError(`your \`latch login\` to ${login.url} expired at ${login.expiresAt}: run \`latch login\` again`, EXIT.config);
    return new LatchApiClient(login.url, login.token, pause);
  }

  /** A client with no token, for what needs none: starting and collecting a `latch login`. */
  static anonymous(url: string, pause: (ms: number) => Promise<unknown> = sleep): LatchApiClient {
    return new LatchApiClient(url, '', pause);
  }

  /** With the token of a person's login, for `latch logout`. */
  static withToken(url: string, token: string): LatchApiClient {
    return new LatchApiClient(url, token);
  }

  startLogin(client: string): Promise<Answer<StartedLogin>> {
    return this.call('POST', '/logins', startedLogin, { body: { client } });
  }

  collectLogin(deviceCode: string): Promise<Answer<PersonToken>> {
    return this.call('POST', '/logins/token', personToken, { body: { deviceCode } });
  }

  /** Ends this client's login: true when Latch ended it, false when it was already not accepted (401). */
  async logout(): Promise<boolean> {
    const answer = await this.call('POST', '/logout', z.unknown(), { emptyAnswer: true });
    if (answer.ok) return true;
    if (answer.status === 401) return false;
    throw new CliError(answer.problem.detail, EXIT.failure);
  }

  async createRequest(body: Record<string, string | Record<string, string[]>>, idempotencyKey: string): Promise<ApiAnswer> {
    return asRequestAnswer(await this.call('POST', '/requests', requestResource, { body, headers: { 'idempotency-key': idempotencyKey } }));
  }

  /** The request, once it settles or after `waitSeconds` (at most 60) have passed. */
  async waitForRequest(id: string, waitSeconds: number): Promise<ApiAnswer> {
    return asRequestAnswer(await this.call('GET', `/requests/${encodeURIComponent(id)}?wait=${waitSeconds}`, requestResource, { answerWithinMs: (waitSeconds + 30) * 1000 }));
  }

  async releaseRequest(id: string): Promise<ApiAnswer> {
    return asRequestAnswer(await this.call('POST', `/requests/${encodeURIComponent(id)}/release`, requestResource, {}));
  }

  /**
   * The credentials of a granted request's login: given once. Not tried again after a network
   * error or a 5xx (only after a 429): the first try may have set the password, and a second
   * would be refused as issued.
   */
  async fetchCredentials(id: string): Promise<CredentialsAnswer> {
    const answer = await this.call('POST', `/requests/${encodeURIComponent(id)}/credentials`, credentialsResource, { once: true });
    return answer.ok ? { ok: true, credentials: answer.value } : answer;
  }

  private async call<T>(
    method: string,
    path: string,
    schema: z.ZodType<T>,
    { body, headers = {}, answerWithinMs = 30_000, once = false, emptyAnswer = false }: { body?: unknown; headers?: Record<string, string>; answerWithinMs?: number; once?: boolean; emptyAnswer?: boolean },
  ): Promise<Answer<T>> {
    const url = `${this.baseUrl}${API_PREFIX}${path}`;
    let pauseMs = FIRST_PAUSE_MS;
    let renewed = false;
    for (let attempt = 1; ; attempt++) {
      let failure: string;
      let retryAfterMs: number | null = null;
      let rateLimited = false;
      try {
        const response = await fetch(url, {
          method,
          headers: { ...(this.token === '' ? {} : { authorization: `Bearer ${this.token}` }), accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          signal: AbortSignal.timeout(answerWithinMs),
          redirect: 'error',
        });
        if (response.status === 401 && this.renew && !renewed) {
          // Refused before anything was done: the same call, once, with a token traded for a fresh OIDC token.
          await response.body?.cancel();
          renewed = true;
          this.token = await this.renew();
          attempt--;
          continue;
        }
        if (emptyAnswer && response.status === 204) return { ok: true, status: 204, value: schema.parse(undefined), replayed: false };
        if (response.status < 500 && response.status !== 429) return await readAnswer(response, schema);
        rateLimited = response.status === 429;
        failure = `Latch answered ${response.status}${await detailOf(response)}`;
        const retryAfter = Number(response.headers.get('retry-after'));
        if (Number.isFinite(retryAfter) && retryAfter > 0) retryAfterMs = Math.min(retryAfter * 1000, 60_000);
      } catch (error) {
        if (error instanceof CliError) throw error;
        failure = `Latch could not be reached at ${this.baseUrl}: ${describeFetchError(error)}`;
      }
      // A 429 did nothing; after anything else, the first try may have handed the credentials out already.
      if (once && !rateLimited) throw new CliError(`${failure}; not tried again, as Latch may have handed them out already: if they are lost, release the access and ask again`, EXIT.unavailable);
      if (attempt >= ATTEMPTS) throw new CliError(`${failure} (tried ${ATTEMPTS} times)`, EXIT.unavailable);
      process.stderr.write(`latch: ${failure}; trying again\n`);
      await this.pause(retryAfterMs ?? pauseMs);
      pauseMs = Math.min(pauseMs * 2, LONGEST_PAUSE_MS);
    }
  }
}

function asRequestAnswer(answer: Answer<RequestResource>): ApiAnswer {
  return answer.ok ? { ok: true, status: answer.status, request: answer.value, replayed: answer.replayed } : answer;
}

async function readAnswer<T>(response: Response, schema: z.ZodType<T>): Promise<Answer<T>> {
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (response.ok) {
    const value = schema.safeParse(json);
    if (value.success) return { ok: true, status: response.status, value: value.data, replayed: response.headers.get('idempotent-replayed') === 'true' };
  } else {
    const problem = problemDetails.safeParse(json);
    if (problem.success) return { ok: false, status: response.status, problem: problem.data };
  }
  throw new CliError(`Latch answered ${response.status} with something that is not its API's JSON: is LATCH_URL the address of Latch?`, EXIT.unavailable);
}

/** A problem's detail, when a 5xx or 429 came with one, for the message. */
async function detailOf(response: Response): Promise<string> {
  const problem = problemDetails.safeParse(await response.json().catch(() => undefined));
  return problem.success ? `: ${problem.data.detail}` : '';
}

function describeFetchError(error: unknown): string {
  if (error instanceof Error && error.name === 'TimeoutError') return 'no answer in time';
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  return cause instanceof Error ? cause.message : String(cause);
}
