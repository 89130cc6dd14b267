import { z } from 'zod';
import { CliError, EXIT } from './cli-error.ts';

/**
 * The OIDC token a CI job proves who it is with, for `latch request` and `latch release` when no
 * LATCH_TOKEN is set: LATCH_OIDC_TOKEN when given (any CI that hands its jobs one), else GitHub
 * Actions' own, asked of the runner as GitHub documents it (GET ACTIONS_ID_TOKEN_REQUEST_URL with
 * `&audience=`, the request token as a bearer token; the answer is `{"value": "<JWT>"}`). The
 * audience is LATCH_OIDC_AUDIENCE, or Latch's address when unset. Null when the job has neither.
 * No token is ever part of a message: a CI log would keep it.
 */
export async function readWorkloadOidcToken(source: NodeJS.ProcessEnv, latchUrl: string): Promise<string | null> {
  const given = source.LATCH_OIDC_TOKEN?.trim();
  if (given) return given;
  const requestUrl = source.ACTIONS_ID_TOKEN_REQUEST_URL;
  const requestToken = source.ACTIONS_ID_TOKEN_REQUEST_TOKEN;
  if (!requestUrl || !requestToken) return null;
  const audience = source.LATCH_OIDC_AUDIENCE?.trim() || latchUrl;
  let url: URL;
  try {
    url = new URL(requestUrl);
  } catch {
    throw new CliError('ACTIONS_ID_TOKEN_REQUEST_URL is not a URL: is this a GitHub Actions job?', EXIT.config);
  }
  url.searchParams.set('audience', audience);
  let response: Response;
  try {
    response = await fetch(url, { headers: { authorization: `bearer ${requestToken}`, accept: 'application/json' }, signal: AbortSignal.timeout(30_000), redirect: 'error' });
  } catch (error) {
    throw new CliError(`GitHub Actions' OIDC token could not be fetched: ${error instanceof Error ? error.message : String(error)}`, EXIT.unavailable);
  }
  if (!response.ok) {
    const hint = response.status === 401 || response.status === 403 ? ': does the job have `permissions: id-token: write`?' : '';
    throw new CliError(`GitHub Actions refused to give the job an OIDC token (${response.status})${hint}`, response.status < 500 ? EXIT.config : EXIT.unavailable);
  }
  const answer = z.object({ value: z.string().min(1) }).safeParse(await response.json().catch(() => undefined));
  if (!answer.success) throw new CliError("GitHub Actions' OIDC token request answered without a token (no `value`)", EXIT.unavailable);
  return answer.data.value;
}
