import {
  WebAPIHTTPError,
  WebAPIPlatformError,
  WebAPIRateLimitedError,
  WebAPIRequestError,
} from '@slack/web-api';
import type { ProviderFailure } from '../provider.ts';

/**
 * What a failed Slack Web API call means for Latch: `transient` when trying again later can work
 * (rate limits, network errors, Slack's own trouble), `permanent` when a person has to change
 * something first (scopes, the token, the group id, the workspace's plan or settings). Messages
 * are for people and never hold the token.
 */

/** The Slack methods this provider calls. */
export type UsergroupMethod =
  | 'auth.test'
  | 'usergroups.users.list'
  | 'usergroups.list'
  | 'usergroups.users.update'
  | 'usergroups.enable'
  | 'usergroups.disable';

/** Slack's error codes that say "not now": the same call can work later. */
const TRANSIENT_ERRORS = new Set([
  'ratelimited',
  'rate_limited',
  'fatal_error',
  'internal_error',
  'request_timeout',
  'service_unavailable',
  // The workspace is migrating into an Enterprise Grid org: the API comes back by itself.
  'team_added_to_org',
  'org_login_required',
]);

const TOKEN_ERRORS = new Set(['invalid_auth', 'not_authed', 'account_inactive', 'token_revoked', 'token_expired', 'not_allowed_token_type']);

const scopeFor = (method: UsergroupMethod) =>
  method === 'usergroups.users.list' || method === 'usergroups.list' ? 'usergroups:read' : 'usergroups:write';

/** Why Slack refused, in words that say what to fix; the code itself is always quoted first. */
function hint(code: string, method: UsergroupMethod, data: Record<string, unknown>): string | undefined {
  if (TOKEN_ERRORS.has(code)) return 'the bot token in SLACK_BOT_TOKEN is not accepted: reinstall the app or update the token';
  switch (code) {
    case 'missing_scope':
      return `the app needs ${typeof data.needed === 'string' && data.needed ? data.needed : scopeFor(method)}`;
    case 'no_such_subteam':
      return 'no such user group in this workspace: check the group id in the provider settings';
    case 'permission_denied':
    case 'no_permission':
      return 'the app may not edit this user group: the workspace may let only admins change user groups, or the group is managed elsewhere';
    case 'paid_teams_only':
    case 'plan_upgrade_required':
      return "user groups need a paid Slack plan";
    case 'user_not_found':
    case 'invalid_users':
      return 'Slack will not put this user in a group: a deleted or deactivated account, a bot, or a user from another workspace';
    case 'is_bot':
      return 'this method needs a token that may edit user groups';
    case 'ekm_access_denied':
      return 'administrators have suspended this through Enterprise Key Management';
    default:
      return undefined;
  }
}

/**
 * The failure for an error thrown by a WebClient call to `method`, or `undefined` when the error
 * did not come from talking to Slack (a bug: the caller rethrows it).
 */
export function slackFailure(error: unknown, method: UsergroupMethod): ProviderFailure | undefined {
  if (error instanceof WebAPIRateLimitedError) {
    return { kind: 'transient', message: `Slack rate limited ${method} (retry after ${error.retryAfter} s)` };
  }
  if (error instanceof WebAPIPlatformError) {
    const code = String(error.data.error);
    if (TRANSIENT_ERRORS.has(code)) return { kind: 'transient', message: `Slack could not do ${method} just now: ${code}` };
    const why = hint(code, method, error.data as unknown as Record<string, unknown>);
    return { kind: 'permanent', message: `Slack refused: ${code}${why ? ` (${why})` : ''}` };
  }
  if (error instanceof WebAPIHTTPError) {
    const { statusCode } = error;
    if (statusCode === 408 || statusCode === 429 || statusCode >= 500) {
      return { kind: 'transient', message: `Slack answered ${method} with HTTP ${statusCode}` };
    }
    return { kind: 'permanent', message: `Slack answered ${method} with HTTP ${statusCode}: check SLACK_API_URL` };
  }
  if (error instanceof WebAPIRequestError) {
    return { kind: 'transient', message: `could not reach Slack for ${method} (${networkReason(error.original)})` };
  }
  // A 429 without a usable Retry-After header: the client gives up on it with a plain Error.
  if (error instanceof Error && error.message.startsWith('Retry header did not contain a valid timeout')) {
    return { kind: 'transient', message: `Slack rate limited ${method}` };
  }
  return undefined;
}

/** `ECONNREFUSED`, `TimeoutError`, … from fetch's error and its cause; never a URL or header. */
function networkReason(error: Error): string {
  const cause = error.cause as { code?: unknown } | undefined;
  if (typeof cause?.code === 'string') return cause.code;
  if (error.name === 'TimeoutError' || error.name === 'AbortError') return 'no answer in time';
  return error.name === 'TypeError' ? 'network error' : error.name;
}
