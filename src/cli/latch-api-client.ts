import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { problemDetails, requestResource, type ProblemDetails, type RequestResource } from '../api/api-schemas.ts';
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
export type ApiAnswer = { ok: true; status: number; request: RequestResource; replayed: boolean } | { ok: false; status: number; problem: ProblemDetails };

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

  createRequest(body: Record<string, string>, idempotencyKey: string): Promise<ApiAnswer> {
    return this.call('POST', '/requests', { body, headers: { 'idempotency-key': idempotencyKey } });
  }

  /** The request, once it settles or after `waitSeconds` (at most 60) have passed. */
  waitForRequest(id: string, waitSeconds: number): Promise<ApiAnswer> {
    return this.call('GET', `/requests/${encodeURIComponent(id)}?wait=${waitSeconds}`, { answerWithinMs: (waitSeconds + 30) * 1000 });
  }

  releaseRequest(id: string): Promise<ApiAnswer> {
    return this.call('POST', `/requests/${encodeURIComponent(id)}/release`, {});
  }

  private async call(method: string, path: string, { body, headers = {}, answerWithinMs = 30_000 }: { body?: unknown; headers?: Record<string, string>; answerWithinMs?: number }): Promise<ApiAnswer> {
    const url = `${this.baseUrl}${API_PREFIX}${path}`;
    let pauseMs = FIRST_PAUSE_MS;
    for (let attempt = 1; ; attempt++) {
      let failure: string;
      let retryAfterMs: number | null = null;
      try {
        const response = await fetch(url, {
          method,
          headers: { authorization: `Bearer ${this.token}`, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          signal: AbortSignal.timeout(answerWithinMs),
          redirect: 'error',
        });
        if (response.status < 500 && response.status !== 429) return await readAnswer(response);
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

async function readAnswer(response: Response): Promise<ApiAnswer> {
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (response.ok) {
    const request = requestResource.safeParse(json);
    if (request.success) return { ok: true, status: response.status, request: request.data, replayed: response.headers.get('idempotent-replayed') === 'true' };
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
