import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { credentialsResource, exchangedToken, problemDetails, requestResource, type CredentialsResource, type ProblemDetails, type RequestResource } from '../api/api-schemas.ts';
import { API_PREFIX } from '../api/openapi.ts';
import { CliError, EXIT } from './cli-error.ts';

/**
 * `/api/v1` as `latch request` and `latch release` call it: from a pipeline, with the machine's
 * token from LATCH_TOKEN (never an argument, which `ps` would show to every user of the runner).
 * Every answer is parsed with the schemas the server answers with. A call that meets a network
 * error, a 5xx or a 429 is tried again, a few times, after a pause (Retry-After when given): a
 * deploy should not fail because one `latch web` restarted. A POST is safe to try again because
 * it carries an Idempotency-Key.
 */

const clientEnv = z.object({
  LATCH_URL: z
    .url({ protocol: /^https?$/, error: 'must be the http:// or https:// address of Latch, e.g. https://latch.example.com' })
    .transform((url) => url.replace(/\/+$/, '').replace(/\/api\/v1$/, '')),
  LATCH_TOKEN: z
    .string({ error: 'is missing: set it to a token from `latch token create <machine>` (a secret of your CI, never an argument)' })
    .trim()
    .regex(/^latch_\S+$/, { error: 'does not look like a Latch token (latch_…): create one with `latch token create <machine>`' }),
});

/** The answer to a call: the request, or the problem the API refused it with. */
export type ApiAnswer = { ok: true; status: number; request: RequestResource; replayed: boolean } | Refusal;
export type CredentialsAnswer = { ok: true; status: number; credentials: CredentialsResource } | Refusal;
type Refusal = { ok: false; status: number; problem: ProblemDetails };

/**
 * Where a job's OIDC token comes from when there is no LATCH_TOKEN: LATCH_OIDC_TOKEN, or GitHub
 * Actions' own endpoint (a job with `permissions: id-token: write`), asked for the audience the
 * machine's rules in the policy name.
 */
const oidcEnv = z.object({
  LATCH_OIDC_TOKEN: z.string().trim().min(1).optional(),
  ACTIONS_ID_TOKEN_REQUEST_URL: z.url({ protocol: /^https?$/ }).optional(),
  ACTIONS_ID_TOKEN_REQUEST_TOKEN: z.string().min(1).optional(),
  LATCH_OIDC_AUDIENCE: z.string().trim().min(1).optional(),
});

/** How many times one call is tried before a network or server failure is final. */
const ATTEMPTS = 5;
const FIRST_PAUSE_MS = 1_000;
const LONGEST_PAUSE_MS = 15_000;

export class LatchApiClient {
  private constructor(
    private readonly baseUrl: string,
    private readonly token: string,
    private readonly pause: (ms: number) => Promise<unknown> = sleep,
  ) {}

  /** A client from LATCH_URL and LATCH_TOKEN, or a CliError (exit 78) naming what is wrong. */
  static fromEnv(source: NodeJS.ProcessEnv = process.env): LatchApiClient {
    const parsed = clientEnv.safeParse({ LATCH_URL: source.LATCH_URL, LATCH_TOKEN: source.LATCH_TOKEN });
    if (!parsed.success) {
      const problems = parsed.error.issues.map((issue) => {
        const name = String(issue.path[0]);
        return source[name] === undefined || source[name] === '' ? `${name} is missing: ${name === 'LATCH_URL' ? 'set it to the address of Latch, e.g. https://latch.example.com' : 'set it to a token from `latch token create <machine>`'}` : `${name} ${issue.message}`;
      });
      throw new CliError([...new Set(problems)].join('\n'), EXIT.config);
    }
    return new LatchApiClient(parsed.data.LATCH_URL, parsed.data.LATCH_TOKEN);
  }

  /**
   * A client for the job at hand: with LATCH_TOKEN when it is set; otherwise with a token that
   * Latch gives in exchange for the job's OIDC token (workload identity: no Latch secret stored in
   * the CI at all). Neither token is ever printed.
   */
  static async fromEnvOrOidc(source: NodeJS.ProcessEnv = process.env): Promise<LatchApiClient> {
    const oidc = oidcEnv.safeParse(source);
    const hasOidc = oidc.success && (oidc.data.LATCH_OIDC_TOKEN !== undefined || (oidc.data.ACTIONS_ID_TOKEN_REQUEST_URL !== undefined && oidc.data.ACTIONS_ID_TOKEN_REQUEST_TOKEN !== undefined));
    if ((source.LATCH_TOKEN ?? '').trim() !== '' || !hasOidc) return LatchApiClient.fromEnv(source);
    const url = clientEnv.shape.LATCH_URL.safeParse(source.LATCH_URL);
    if (!url.success) throw new CliError(source.LATCH_URL ? `LATCH_URL ${url.error.issues[0]!.message}` : 'LATCH_URL is missing: set it to the address of Latch, e.g. https://latch.example.com', EXIT.config);
    const jwt = oidc.data.LATCH_OIDC_TOKEN ?? (await githubOidcToken(oidc.data.ACTIONS_ID_TOKEN_REQUEST_URL!, oidc.data.ACTIONS_ID_TOKEN_REQUEST_TOKEN!, oidc.data.LATCH_OIDC_AUDIENCE));
    const exchanging = new LatchApiClient(url.data, '');
    const answer = await exchanging.call('POST', '/oidc/token', { body: { token: jwt }, anonymous: true }, (json) => exchangedToken.safeParse(json).data);
    if (!answer.ok) throw new CliError(`Latch refused the job's OIDC token: ${answer.problem.detail}`, EXIT.config);
    return new LatchApiClient(url.data, answer.value.access_token);
  }

  createRequest(body: Record<string, string>, idempotencyKey: string): Promise<ApiAnswer> {
    return this.requestCall('POST', '/requests', { body, headers: { 'idempotency-key': idempotencyKey } });
  }

  /** The request, once it settles or after `waitSeconds` (at most 60) have passed. */
  waitForRequest(id: string, waitSeconds: number): Promise<ApiAnswer> {
    return this.requestCall('GET', `/requests/${encodeURIComponent(id)}?wait=${waitSeconds}`, { answerWithinMs: (waitSeconds + 30) * 1000 });
  }

  releaseRequest(id: string): Promise<ApiAnswer> {
    return this.requestCall('POST', `/requests/${encodeURIComponent(id)}/release`, {});
  }

  /** The credentials of the login an active request was granted: given once, so never retried once answered. */
  async fetchCredentials(id: string): Promise<CredentialsAnswer> {
    const answer = await this.call('POST', `/requests/${encodeURIComponent(id)}/credentials`, {}, (json) => credentialsResource.safeParse(json).data);
    return answer.ok ? { ok: true, status: answer.status, credentials: answer.value } : answer;
  }

  private async requestCall(method: string, path: string, options: CallOptions): Promise<ApiAnswer> {
    const answer = await this.call(method, path, options, (json) => requestResource.safeParse(json).data);
    return answer.ok ? { ok: true, status: answer.status, request: answer.value, replayed: answer.replayed } : answer;
  }

  private async call<T>(method: string, path: string, { body, headers = {}, answerWithinMs = 30_000, anonymous = false }: CallOptions, parse: (json: unknown) => T | undefined): Promise<Answer<T>> {
    const url = `${this.baseUrl}${API_PREFIX}${path}`;
    let pauseMs = FIRST_PAUSE_MS;
    for (let attempt = 1; ; attempt++) {
      let failure: string;
      let retryAfterMs: number | null = null;
      try {
        const response = await fetch(url, {
          method,
          headers: { ...(anonymous ? {} : { authorization: `Bearer ${this.token}` }), accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          signal: AbortSignal.timeout(answerWithinMs),
          redirect: 'error',
        });
        if (response.status < 500 && response.status !== 429) return await readAnswer(response, parse);
        failure = `Latch answered ${response.status}${await detailOf(response)}`;
        const retryAfter = Number(response.headers.get('retry-after'));
        if (Number.isFinite(retryAfter) && retryAfter > 0) retryAfterMs = Math.min(retryAfter * 1000, 60_000);
      } catch (error) {
        if (error instanceof CliError) throw error;
        failure = `Latch could not be reached at ${this.baseUrl}: ${describeFetchError(error)}`;
      }
      if (attempt >= ATTEMPTS) throw new CliError(`${failure} (tried ${ATTEMPTS} times)`, EXIT.unavailable);
      process.stderr.write(`latch: ${failure}; trying again\n`);
      await this.pause(retryAfterMs ?? pauseMs);
      pauseMs = Math.min(pauseMs * 2, LONGEST_PAUSE_MS);
    }
  }
}

interface CallOptions {
  body?: unknown;
  headers?: Record<string, string>;
  answerWithinMs?: number;
  /** Sent without the bearer token: the OIDC exchange, whose body is the credential. */
  anonymous?: boolean;
}

type Answer<T> = { ok: true; status: number; value: T; replayed: boolean } | Refusal;

async function readAnswer<T>(response: Response, parse: (json: unknown) => T | undefined): Promise<Answer<T>> {
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (response.ok) {
    const value = parse(json);
    if (value !== undefined) return { ok: true, status: response.status, value, replayed: response.headers.get('idempotent-replayed') === 'true' };
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

/**
 * The job's OIDC token from GitHub Actions: GET ACTIONS_ID_TOKEN_REQUEST_URL (with &audience=…)
 * with ACTIONS_ID_TOKEN_REQUEST_TOKEN as bearer, answered {"value": "<jwt>"} (GitHub's docs,
 * "Configuring OpenID Connect in cloud providers").
 */
async function githubOidcToken(requestUrl: string, requestToken: string, audience: string | undefined): Promise<string> {
  const url = new URL(requestUrl);
  if (audience) url.searchParams.set('audience', audience);
  let response: Response;
  try {
    response = await fetch(url, { headers: { authorization: `bearer ${requestToken}`, accept: 'application/json' }, signal: AbortSignal.timeout(30_000), redirect: 'error' });
  } catch (error) {
    throw new CliError(`the job's OIDC token could not be fetched from ACTIONS_ID_TOKEN_REQUEST_URL: ${describeFetchError(error)}`, EXIT.unavailable);
  }
  const body = z.object({ value: z.string().min(1) }).safeParse(await response.json().catch(() => undefined));
  if (!response.ok || !body.success) throw new CliError(`the job's OIDC token could not be fetched (HTTP ${response.status}): does the job have \`permissions: id-token: write\`?`, EXIT.config);
  return body.data.value;
}
