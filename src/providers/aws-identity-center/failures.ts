import type { ProviderFailure } from '../provider.ts';

/**
 * What an AWS SDK error means for a retry, by the exception's name (the JSON protocol's `__type`,
 * from the SSO Admin and Identity Store API references) and, failing that, its HTTP status. The
 * message is written here from the name and the operation; AWS's own message is not quoted, as it
 * can carry ARNs of other accounts and is no help to people.
 */

/** Exceptions that may pass on their own: the SDK already retried them a few times. */
const TRANSIENT = new Set([
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'InternalServerException',
  'ServiceUnavailableException',
  // Another operation on the same assignment is under way: wait for it, then try again.
  'ConflictException',
  'TimeoutError',
  'RequestTimeout',
]);

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND', 'EPIPE']);

export function classifyAwsError(error: unknown, operation: string): ProviderFailure {
  const name = nameOf(error);
  const status = statusOf(error);
  const code = codeOf(error);
  if (name === 'ResourceNotFoundException') {
    return { kind: 'permanent', message: `${operation}: Identity Center does not have the account, permission set, instance or user named (ResourceNotFoundException)` };
  }
  if (name === 'AccessDeniedException' || name === 'UnrecognizedClientException' || name === 'InvalidSignatureException' || name === 'ExpiredTokenException') {
    return {
      kind: 'permanent',
      message: `${operation}: AWS refused the grantor's credentials or permissions (${name}): see src/providers/aws-identity-center/README.md for the IAM policy it needs`,
    };
  }
  if (name === 'CredentialsProviderError') {
    return { kind: 'permanent', message: `${operation}: no AWS credentials found in the standard chain (environment, shared config, instance or task role)` };
  }
  if (name === 'ValidationException' || name === 'ServiceQuotaExceededException') {
    return { kind: 'permanent', message: `${operation}: Identity Center refused the request (${name})` };
  }
  if (name !== undefined && TRANSIENT.has(name)) return { kind: 'transient', message: `${operation}: Identity Center answered ${name}; will retry` };
  if (code !== undefined && NETWORK_CODES.has(code)) return { kind: 'transient', message: `${operation}: cannot reach Identity Center (${code}); will retry` };
  if (status !== undefined && (status === 429 || status >= 500)) return { kind: 'transient', message: `${operation}: Identity Center answered HTTP ${status}; will retry` };
  if (status !== undefined && status >= 400) return { kind: 'permanent', message: `${operation}: Identity Center refused the request (${name ?? `HTTP ${status}`})` };
  return { kind: 'transient', message: `${operation}: unexpected error talking to Identity Center (${name ?? code ?? 'unknown'}); will retry` };
}

function nameOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const name = (error as { name?: unknown }).name;
  return typeof name === 'string' && name !== 'Error' ? name : undefined;
}

function statusOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const status = (error as { $metadata?: { httpStatusCode?: unknown } }).$metadata?.httpStatusCode;
  return typeof status === 'number' ? status : undefined;
}

function codeOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  const cause = (error as { cause?: unknown }).cause;
  return cause !== undefined && cause !== error ? codeOf(cause) : undefined;
}
