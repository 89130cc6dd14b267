import type { ServerResponse } from 'node:http';
import type { RefusalCode } from '../services/refusal.ts';
import type { ProblemDetails } from './api-schemas.ts';

/**
 * Errors as RFC 9457 problem details (`application/problem+json`): a title and status for programs,
 * a `detail` fit to show a person, a stable `code`. Never a stack trace or an internal message.
 */
export function sendProblem(res: ServerResponse, status: number, code: string, detail: string, extra: { errors?: Record<string, string>; headers?: Record<string, string> } = {}): void {
  const problem: ProblemDetails = {
    type: `https://latch.dev/problems/${code.replaceAll('_', '-')}`,
    title: TITLES[status] ?? 'Error',
    status,
    detail,
    code,
    ...(extra.errors ? { errors: extra.errors } : {}),
  };
  res.writeHead(status, { 'content-type': 'application/problem+json', 'cache-control': 'no-store', ...extra.headers }).end(JSON.stringify(problem));
}

const TITLES: Record<number, string> = {
  400: 'Bad request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not found',
  405: 'Method not allowed',
  409: 'Conflict',
  413: 'Content too large',
  415: 'Unsupported media type',
  422: 'Invalid request',
  429: 'Too many requests',
  500: 'Internal error',
  503: 'Unavailable',
};

/** The HTTP status of a use case's refusal. */
export function statusOfRefusal(code: RefusalCode): number {
  switch (code) {
    case 'invalid_input':
      return 422;
    case 'not_found':
      return 404;
    case 'profile_unavailable':
    case 'scope_unavailable':
    case 'credentials_unavailable':
      return 503;
    case 'not_allowed':
    case 'not_approver':
    case 'own_request':
    case 'identity_refused':
    case 'account_refused':
    case 'no_longer_fits':
      return 403;
    default:
      return 409;
  }
}
