import { RequestError } from '@octokit/request-error';
import type { ProviderFailure } from '../provider.ts';

/**
 * What a failed GitHub REST call means for Latch: `transient` when trying again later can work
 * (rate limits, GitHub's own trouble, the network), `permanent` when a person has to change
 * something first (the token, its scopes, the org or team slug, an unknown login). Messages are for
 * the operator and never hold the token (Octokit's messages do not quote headers).
 */
export function githubFailure(error: unknown, what: string): ProviderFailure | undefined {
  if (error instanceof RequestError) {
    const { status } = error;
    const headers = error.response?.headers ?? {};
    const retryAfter = headers['retry-after'];
    const exhausted = headers['x-ratelimit-remaining'] === '0';
    // GitHub answers both primary (403, remaining 0) and secondary (403 or 429, retry-after) limits this way.
    if (status === 429 || (status === 403 && (exhausted || retryAfter !== undefined))) {
      return { kind: 'transient', message: `GitHub rate limited ${what}${retryAfter !== undefined ? ` (retry after ${String(retryAfter)} s)` : ''}` };
    }
    if (status === 408 || status >= 500) return { kind: 'transient', message: `GitHub could not ${what} just now (HTTP ${status})` };
    return { kind: 'permanent', message: `GitHub refused to ${what}: HTTP ${status} (${hint(status)})` };
  }
  if (error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError')) {
    return { kind: 'transient', message: `GitHub did not answer in time to ${what}` };
  }
  return undefined;
}

function hint(status: number): string {
  switch (status) {
    case 401:
      return 'the token is not accepted: renew it and update the variable named by settings.tokenEnv';
    case 403:
      return 'the token may not do this: it needs admin:org (a classic token) or the organisation’s Members permission, read and write (a fine-grained token), and must belong to an organisation owner or team maintainer';
    case 404:
      return 'no such organisation, team or user, or the token cannot see them: check settings.org, the team slug and the login';
    case 422:
      return 'GitHub will not put this user in the team';
    default:
      return 'unexpected answer';
  }
}
