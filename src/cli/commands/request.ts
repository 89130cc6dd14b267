import { randomUUID } from 'node:crypto';
import type { CredentialsResource, RequestResource } from '../../api/api-schemas.ts';
import { formatDuration } from '../../domain/duration.ts';
import { CliError, EXIT } from '../cli-error.ts';
import { LatchApiClient, type ApiAnswer, type CredentialsAnswer } from '../latch-api-client.ts';

/**
 * `latch request` and `latch release`: a pipeline step asks for access through the API, waits
 * while people decide in Slack, and says how it ended with its exit code, so a shell or a CI
 * job can branch on it without reading the output.
 */

/** The exit codes of `latch request` and `latch release`, documented in the README and the usage. */
export const REQUEST_EXIT = {
  /** Granted (with --wait), asked (without), released. */
  ok: EXIT.ok,
  denied: 2,
  /** Nobody decided before the request's pending timeout. */
  expired: 3,
  /** --timeout passed while it was still waiting: the request stays pending in Slack. */
  timedOut: 4,
  /** The API refused the call: the policy does not allow it, a limit, an invalid request, no such request. */
  refused: 5,
  /** It ended without access: cancelled, failed to be granted, or already revoked. */
  ended: 6,
  usage: EXIT.usage,
  /** LATCH_URL or LATCH_TOKEN missing or wrong, the token refused (401), or the job's OIDC token refused. */
  config: EXIT.config,
  /** Latch could not be reached, or failed, after a few tries. */
  unavailable: EXIT.unavailable,
} as const;

export type OutputFormat = 'text' | 'json' | 'env';

export interface RequestOptions {
  resource: string;
  role: string;
  duration: string;
  reason: string;
  ticket?: string | undefined;
  /** The scope asked for (`--scope customer=4711`), for a role whose policy declares scope parameters. */
  scope?: Record<string, string[]> | null | undefined;
  wait: boolean;
  /** How long --wait may wait in all, in seconds; undefined waits until the request settles. */
  timeoutSeconds?: number | undefined;
  format: OutputFormat;
  /** Makes a rerun of the same pipeline step find its first request; a fresh one otherwise. */
  idempotencyKey?: string | undefined;
  /** Once granted (with --wait), fetch the login's credentials, given once, and print them too. */
  credentials?: boolean | undefined;
}

/** The longest one long-poll may last, as the API allows it. */
const MAX_WAIT_SECONDS = 60;

export async function requestCommand(options: RequestOptions, client?: LatchApiClient): Promise<void> {
  client ??= await LatchApiClient.connect();
  const body = {
    resource: options.resource,
    role: options.role,
    duration: options.duration,
    reason: options.reason,
    ...(options.ticket === undefined ? {} : { ticket: options.ticket }),
    ...(options.scope ? { scope: options.scope } : {}),
  };
  const deadline = options.timeoutSeconds === undefined ? Number.POSITIVE_INFINITY : Date.now() + options.timeoutSeconds * 1000;
  const made = requestOf(await client.createRequest(body, options.idempotencyKey ?? randomUUID()));
  let request = made.request;
  if (made.replayed) process.stderr.write(`latch: request ${request.id} was made by an earlier run with this idempotency key\n`);
  if (!options.wait) {
    write(request, options.format);
    return;
  }
  if (!isSettled(request)) process.stderr.write(`latch: request ${request.id} is waiting for approval in Slack\n`);
  while (!isSettled(request)) {
    const left = deadline - Date.now();
    if (left <= 0) {
      write(request, options.format);
      const still = request.state === 'approved' ? 'it is approved and still being granted' : 'it is still pending approval in Slack';
      throw new CliError(`timed out after ${formatDuration(options.timeoutSeconds!)} waiting for request ${request.id}; ${still}`, REQUEST_EXIT.timedOut);
    }
    request = requestOf(await client.waitForRequest(request.id, Math.min(MAX_WAIT_SECONDS, Math.ceil(left / 1000)))).request;
  }
  const ending = endingOf(request);
  if (ending || !options.credentials) {
    write(request, options.format);
    if (ending) throw new CliError(ending.message, ending.code);
    return;
  }
  const credentials = credentialsOf(await client.fetchCredentials(request.id), request.id, () => write(request, options.format));
  writeCredentials(credentials, options.format, request);
}

/** `latch credentials <id>`: the credentials of a granted request's login, which Latch gives once. */
export async function credentialsCommand(id: string, format: OutputFormat, client?: LatchApiClient): Promise<void> {
  client ??= await LatchApiClient.connect();
  writeCredentials(credentialsOf(await client.fetchCredentials(id), id), format, null);
}

export async function releaseCommand(id: string, format: OutputFormat, client?: LatchApiClient): Promise<void> {
  client ??= await LatchApiClient.connect();
  const released = requestOf(await client.releaseRequest(id));
  write(released.request, format);
}

/** A request that will not change by waiting: granted, or ended without access. */
function isSettled(request: RequestResource): boolean {
  return request.state !== 'pending_approval' && request.state !== 'approved';
}

/** How a settled request ended, when not with access: its message and exit code. */
function endingOf(request: RequestResource): { message: string; code: number } | null {
  const why = request.outcome ? `: ${request.outcome}` : '';
  switch (request.state) {
    case 'active':
      return null;
    case 'denied':
      return { message: `request ${request.id} was denied${why}`, code: REQUEST_EXIT.denied };
    case 'expired':
      return { message: `request ${request.id} expired: nobody decided in time${why}`, code: REQUEST_EXIT.expired };
    default:
      return { message: `request ${request.id} ended without access (${request.state})${why}`, code: REQUEST_EXIT.ended };
  }
}

/** The request an answer holds, or a CliError with the problem's detail and the exit code it means. */
function requestOf(answer: ApiAnswer): Extract<ApiAnswer, { ok: true }> {
  if (answer.ok) return answer;
  const { detail, errors = {} } = answer.problem;
  // Each field's own message too, unless the detail already says it.
  const fields = Object.entries(errors).filter(([, message]) => !detail.includes(message)).map(([field, message]) => `\n${field}: ${message}`);
  throw new CliError(`${detail}${fields.join('')}`, answer.status === 401 ? REQUEST_EXIT.config : REQUEST_EXIT.refused);
}

/** The credentials an answer holds, or a CliError with the problem's detail (a 409, already given or not granted, is refused: 5). */
function credentialsOf(answer: CredentialsAnswer, id: string, beforeFailing: () => void = () => {}): CredentialsResource {
  if (answer.ok) return answer.credentials;
  beforeFailing();
  throw new CliError(`the credentials of request ${id} were not given: ${answer.problem.detail}`, answer.status === 401 ? REQUEST_EXIT.config : REQUEST_EXIT.refused);
}

/**
 * The credentials in the format asked for: text and json as they are; env as the libpq variables
 * `psql` and most PostgreSQL clients read (PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD),
 * single-quoted, after the request's LATCH_* lines. Latch keeps no copy: stderr says so.
 */
function writeCredentials(credentials: CredentialsResource, format: OutputFormat, request: RequestResource | null): void {
  process.stderr.write('latch: these credentials are shown once: Latch keeps no copy and gives them no second time; keep them out of logs\n');
  if (format === 'json') {
    process.stdout.write(`${JSON.stringify(request ? { ...request, credentials } : credentials, null, 2)}\n`);
    return;
  }
  if (format === 'env') {
    const values: Record<string, string> = {
      PGHOST: credentials.host,
      PGPORT: String(credentials.port),
      PGDATABASE: credentials.database,
      PGUSER: credentials.user,
      PGPASSWORD: credentials.password,
    };
    const pg = Object.entries(values).map(([name, value]) => `${name}=${shellQuote(value)}\n`);
    process.stdout.write(`${request ? asEnv(request) : ''}${pg.join('')}`);
    return;
  }
  const lines = [
    ...(request ? [asText(request)] : []),
    `host: ${credentials.host}`,
    `port: ${credentials.port}`,
    `database: ${credentials.database}`,
    `user: ${credentials.user}`,
    `password: ${credentials.password}`,
    `valid until: ${credentials.validUntil ?? 'the end of the access'}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

function write(request: RequestResource, format: OutputFormat): void {
  process.stdout.write(format === 'json' ? `${JSON.stringify(request, null, 2)}\n` : format === 'env' ? asEnv(request) : `${asText(request)}\n`);
}

function asText(request: RequestResource): string {
  const what = `${request.role} on ${request.resource} for ${request.account ?? 'the machine'}`;
  switch (request.state) {
    case 'pending_approval':
      return `request ${request.id}: waiting for approval in Slack (${what}, ${formatDuration(request.durationSeconds)})`;
    case 'approved':
      return `request ${request.id}: approved, being granted (${what})`;
    case 'active':
      return `request ${request.id}: granted ${what}${request.grant?.expiresAt ? ` until ${request.grant.expiresAt}` : ''}`;
    default:
      return `request ${request.id}: ${request.state}${request.outcome ? ` (${request.outcome})` : ''}`;
  }
}

/**
 * `NAME='value'` lines a shell can `eval` or `source`: every value single-quoted, a quote inside
 * written as '\'' , so nothing the API returns (a reason, an outcome) can run as a command.
 */
function asEnv(request: RequestResource): string {
  const values: Record<string, string | null> = {
    LATCH_REQUEST_ID: request.id,
    LATCH_REQUEST_STATE: request.state,
    LATCH_RESOURCE: request.resource,
    LATCH_ROLE: request.role,
    LATCH_ACCOUNT: request.account,
    LATCH_EXPIRES_AT: request.grant?.expiresAt ?? null,
  };
  return Object.entries(values)
    .map(([name, value]) => `${name}=${shellQuote(value ?? '')}\n`)
    .join('');
}

export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}
