import type { IncomingMessage, ServerResponse } from 'node:http';
import { asksTheSame, idempotencySubmissionKey, parseIdempotencyKey } from '../domain/idempotency-key.ts';
import type { Logger } from '../logging/logger.ts';
import { RefusalLog } from '../logging/refusal-log.ts';
import { authenticateApiCaller } from '../services/authenticate-api-caller.ts';
import { collectCliLoginToken, endCliLogin, startCliLogin } from '../services/cli-logins.ts';
import { cleanClientName, DEFAULT_MAX_WAITING_LOGINS } from '../domain/cli-login.ts';
import { endAccessEarly } from '../services/end-access-early.ts';
import { exchangeOidcToken, type OidcVerifier, type SeenOidcTokens } from '../services/exchange-oidc-token.ts';
import { issueCredentials } from '../services/issue-credentials.ts';
import { listOwnAccess, readAskedRequest, readOwnRequest, type OwnRequest } from '../services/read-own-request.ts';
import { requestAccess } from '../services/request-access.ts';
import { requestAccessBundle } from '../services/request-access-bundle.ts';
import { waitForRequest } from '../services/wait-for-request.ts';
import type { Refused } from '../services/refusal.ts';
import type { ServiceContext } from '../services/service-context.ts';
import { markAuthenticated } from '../slack/authenticated-requests.ts';
import { readLimitedBody } from '../slack/request-body.ts';
import { collectLoginBody, createRequestBody, oidcTokenBody, startLoginBody, waitSeconds, type ApiRequestState, type CredentialsResource, type PersonToken, type RequestResource, type StartedLogin } from './api-schemas.ts';
import { addressLimitKey, clientAddress } from './client-address.ts';
import { FailedTokenChecks, refuseUnchecked } from './failed-token-checks.ts';
import { API_PREFIX, openApiDocument } from './openapi.ts';
import { sendProblem, statusOfRefusal } from './problem.ts';
import { PrincipalRateLimiter } from './rate-limiter.ts';

/** A request body is a few short fields: far more than this is not a request for access. */
const MAX_BODY_BYTES = 16 * 1024;

interface Caller {
  requesterId: string;
  /** The machine of the policy; null for a person with the token of their `latch login`. */
  machineId: string | null;
  tokenId: string;
}

type Handler = (req: IncomingMessage, res: ServerResponse, caller: Caller, id: string | undefined) => Promise<void>;

export interface ApiListenerOptions {
  services: ServiceContext;
  logger: Logger;
  limiter?: PrincipalRateLimiter;
  /**
   * Aborted when the process shuts down: every long-poll (`?wait=`) answers at once with the
   * request as it is, so a waiting client never holds shutdown for up to a minute. The client
   * asks again, of another process.
   */
  stopWaiting?: AbortSignal;
  /** The OIDC exchange's parts: without them, `POST /oidc/token` answers that workload identity is not set up. */
  oidc?: OidcExchangeParts | undefined;
  /** Reverse proxies in front of Latch that append to X-Forwarded-For (client-address.ts); 0 when none. */
  trustedProxyHops?: number;
  /** Per client address: `POST /logins` (starting one) and `POST /logins/token` (polling). */
  loginLimiters?: { start?: PrincipalRateLimiter; poll?: PrincipalRateLimiter };
  /** Logins waiting for a person at once, in total (LATCH_MAX_WAITING_LOGINS): beyond it `POST /logins` is refused. */
  maxWaitingLogins?: number;
  /** Per client address, before a bearer token is checked (pass /mcp's too: one limit for both). */
  failedTokenChecks?: FailedTokenChecks;
}

/** What `POST /oidc/token` needs: without it, the route answers that workload identity is not set up. */
export interface OidcExchangeParts {
  verifier: OidcVerifier;
  seen: SeenOidcTokens;
  /**
   * Per client address, before any token is looked at: whoever hammers the exchange with tokens
   * waits, and never makes Latch fetch keys or write audit events faster than this.
   */
  limiter?: PrincipalRateLimiter;
}

/** The exchange's default limit per address: a burst of 30, then one call every 2 s. */
export const OIDC_EXCHANGES_PER_MINUTE = 30;
export const OIDC_EXCHANGE_BURST = 30;
/** Logins started per address: a few people behind one NAT, not a flood of codes to guess among. */
export const LOGINS_PER_MINUTE = 10;
export const LOGIN_BURST = 10;
/** While login starts are refused as too many wait, one warning per this long, not one per refusal. */
export const FULL_LOGINS_WARNING_INTERVAL_MS = 60_000;
/** Polls per address: each terminal polls every few seconds (LOGIN_POLL_SECONDS). */
export const LOGIN_POLLS_PER_MINUTE = 120;
export const LOGIN_POLL_BURST = 40;

/**
 * `/api/v1`: machines ask for access with a bearer token and call the same use cases Slack's
 * listeners call; people still decide in Slack. Every call is authenticated (token.ts rules),
 * rate-limited per machine, and answered with JSON or a problem+json refusal. A workload with an
 * OIDC token (a GitHub Actions job) first trades it for a bearer token at `POST /oidc/token`.
 */
export function createApiListener({
  services,
  logger,
  limiter = new PrincipalRateLimiter(),
  stopWaiting,
  oidc,
  trustedProxyHops = 0,
  loginLimiters = {},
  maxWaitingLogins = DEFAULT_MAX_WAITING_LOGINS,
  failedTokenChecks = new FailedTokenChecks(logger),
}: ApiListenerOptions) {
  const oidcLimiter = oidc?.limiter ?? new PrincipalRateLimiter(OIDC_EXCHANGES_PER_MINUTE, OIDC_EXCHANGE_BURST);
  const loginStartLimiter = loginLimiters.start ?? new PrincipalRateLimiter(LOGINS_PER_MINUTE, LOGIN_BURST);
  const loginPollLimiter = loginLimiters.poll ?? new PrincipalRateLimiter(LOGIN_POLLS_PER_MINUTE, LOGIN_POLL_BURST);
  // Refusals anyone can send as fast as they like: each kind logged once a minute, with how many more.
  const refusals = new RefusalLog(logger);
  const fullLogins = { warnedAtMs: Number.NEGATIVE_INFINITY, refusedSinceWarning: 0 };
  const openapi = JSON.stringify(openApiDocument());
  const routes: Array<{ pattern: RegExp; methods: Record<string, Handler> }> = [
    { pattern: /^\/requests$/, methods: { POST: createRequest } },
    { pattern: /^\/requests\/([^/]+)$/, methods: { GET: getRequest } },
    { pattern: /^\/requests\/([^/]+)\/release$/, methods: { POST: releaseRequest } },
    { pattern: /^\/requests\/([^/]+)\/credentials$/, methods: { POST: fetchCredentials } },
    { pattern: /^\/access$/, methods: { GET: listAccess } },
    { pattern: /^\/logout$/, methods: { POST: logout } },
    // Said plainly, rather than "not found", to a machine (or a person holding its token) that tries.
    { pattern: /^\/requests\/([^/]+)\/(?:approve|deny|review)$/, methods: { POST: refuseDecision } },
  ];

  async function refuseDecision(_req: IncomingMessage, res: ServerResponse, caller: Caller): Promise<void> {
    if (caller.machineId === null) {
      // A person's terminal token is a convenience for their own requests, not a way to decide.
      logger.warn({ user: caller.requesterId, tokenId: caller.tokenId }, 'a CLI login tried to decide a request');
      return sendProblem(res, 403, 'not_approver', 'Requests are approved, denied and reviewed in Slack only, where Slack vouches for each click: not through the API.');
    }
    logger.warn({ machine: caller.machineId, tokenId: caller.tokenId }, 'a machine tried to decide a request');
    sendProblem(res, 403, 'not_approver', 'Machines can never approve, deny or review requests: only people decide, in Slack.');
  }

  async function logout(_req: IncomingMessage, res: ServerResponse, caller: Caller): Promise<void> {
    if (caller.machineId !== null) return sendProblem(res, 403, 'not_a_login', `This is a token of the machine ${caller.machineId}, not a person's login: an operator revokes it with \`latch token revoke ${caller.tokenId}\`.`);
    await endCliLogin(services, { loginId: caller.tokenId, actor: caller.requesterId });
    logger.info({ user: caller.requesterId, tokenId: caller.tokenId }, 'a CLI login was ended');
    res.writeHead(204, { 'cache-control': 'no-store' }).end();
  }

  /** `POST /logins`: no token, anyone may start one; only a person confirming it in Slack gives it meaning. */
  async function startLogin(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') return sendProblem(res, 405, 'method_not_allowed', 'Use POST.', { headers: { allow: 'POST' } });
    const ip = clientAddress(req, trustedProxyHops);
    const wait = loginStartLimiter.take(`ip:${addressLimitKey(ip)}`);
    if (wait !== null) return sendProblem(res, 429, 'rate_limited', `Too many logins started from this address: try again in ${wait} s.`, { headers: { 'retry-after': String(wait) } });
    const empty = req.headers['content-length'] === '0' || (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined);
    const body = empty ? {} : await readJsonBody(req, res);
    if (body === undefined) return;
    const parsed = startLoginBody.safeParse(body);
    if (!parsed.success) return sendProblem(res, 422, 'invalid_body', 'The body may only name the terminal: {"client": "<host name>"}.');
    const result = await startCliLogin(services, { clientAddress: ip, clientName: cleanClientName(parsed.data.client), maxWaiting: maxWaitingLogins });
    if (!result.ok) {
      warnOfFullLogins(ip, result.waiting);
      // 429, not 503: nothing is wrong with Latch, callers together sent too many. A 5xx would
      // count against Latch in a proxy's outlier detection and in error budgets, so a flood of
      // starts could get its instances ejected, Slack's requests with them; the CLI waits out
      // Retry-After and tries again after either.
      return sendProblem(res, 429, 'too_many_waiting_logins', 'Too many logins are waiting to be confirmed; try again in a few minutes.', {
        headers: { 'retry-after': String(result.retryAfterSeconds) },
      });
    }
    const started = result.login;
    logger.info({ loginId: started.loginId, ip }, 'a CLI login was started');
    const answer: StartedLogin = {
      deviceCode: started.deviceCode,
      userCode: started.userCode,
      slackCommand: `/request-access login ${started.userCode}`,
      expiresAt: started.expiresAt.toISOString(),
      expiresIn: Math.round((started.expiresAt.getTime() - services.clock.now().getTime()) / 1000),
      interval: started.intervalSeconds,
    };
    sendJson(res, 201, answer);
  }

  /**
   * The security team should hear that someone fills the waiting logins (people's `latch login`
   * is refused meanwhile), once a minute per process with how many starts were refused, rather
   * than once per refusal: the flood must not become a flood of log lines.
   */
  function warnOfFullLogins(ip: string, waiting: number): void {
    fullLogins.refusedSinceWarning++;
    const nowMs = services.clock.now().getTime();
    if (nowMs - fullLogins.warnedAtMs < FULL_LOGINS_WARNING_INTERVAL_MS) return;
    logger.warn(
      { waiting, maxWaitingLogins, refused: fullLogins.refusedSinceWarning, lastIp: ip },
      'CLI login starts are refused: as many logins as LATCH_MAX_WAITING_LOGINS wait to be confirmed, so someone may be flooding POST /api/v1/logins and people cannot `latch login` until they lapse',
    );
    fullLogins.warnedAtMs = nowMs;
    fullLogins.refusedSinceWarning = 0;
  }

  /** `POST /logins/token`: the device code in the body is the credential. */
  async function collectLogin(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') return sendProblem(res, 405, 'method_not_allowed', 'Use POST.', { headers: { allow: 'POST' } });
    const ip = clientAddress(req, trustedProxyHops);
    const wait = loginPollLimiter.take(`ip:${addressLimitKey(ip)}`);
    if (wait !== null) return sendProblem(res, 429, 'slow_down', `Polled too often from this address: try again in ${wait} s.`, { headers: { 'retry-after': String(wait) } });
    const body = await readJsonBody(req, res);
    if (body === undefined) return;
    const parsed = collectLoginBody.safeParse(body);
    if (!parsed.success) return sendProblem(res, 422, 'invalid_body', 'Send the device code POST /logins gave: {"deviceCode": "latchdevice_…"}.');
    const collected = await collectCliLoginToken(services, { deviceCode: parsed.data.deviceCode });
    if (!collected.ok) return sendProblem(res, collected.error === 'access_denied' ? 403 : 400, collected.error, collected.message);
    logger.info({ user: collected.slackUserId, tokenId: collected.tokenId, ip }, 'a CLI login collected its token');
    const answer: PersonToken = {
      access_token: collected.token,
      token_type: 'Bearer',
      expires_in: Math.round((collected.expiresAt.getTime() - services.clock.now().getTime()) / 1000),
      expires_at: collected.expiresAt.toISOString(),
      user: collected.slackUserId,
    };
    sendJson(res, 200, answer);
  }

  async function createRequest(req: IncomingMessage, res: ServerResponse, caller: Caller): Promise<void> {
    const idempotency = idempotencyKeyOf(req);
    if (!idempotency.ok) return sendProblem(res, 422, 'invalid_idempotency_key', idempotency.message, { errors: { 'Idempotency-Key': idempotency.message } });
    const body = await readJsonBody(req, res);
    if (body === undefined) return;
    const parsed = createRequestBody.safeParse(body);
    if (!parsed.success) {
      const errors = Object.fromEntries(parsed.error.issues.map((issue) => [issue.path.join('.') || 'body', issue.message]));
      sendProblem(res, 422, 'invalid_body', `The body is not a valid request: ${Object.entries(errors).map(([field, message]) => `${field}: ${message}`).join('; ')}.`, { errors });
      return;
    }
    const { resource, role, duration, reason, ticket, items, scope } = parsed.data;
    const submissionKey = idempotency.key === null ? null : idempotencySubmissionKey(caller.requesterId, idempotency.key);
    if (items) return createBundle(res, caller, { items: items.map((item) => ({ resourceId: item.resource, role: item.role, scope: item.scope ?? null })), duration, reason, ticket: ticket ?? null, submissionKey });
    // The schema refuses a body with neither; this keeps the types honest.
    if (resource === undefined || role === undefined) return sendProblem(res, 422, 'invalid_body', 'Give resource and role, or items.');
    const made = await requestAccess(services, {
      requesterId: caller.requesterId,
      resourceId: resource,
      role,
      duration,
      reason,
      ticket: ticket ?? null,
      scope: scope ?? null,
      tokenId: caller.tokenId,
      submissionKey,
    });
    if (!made.ok) return refused(res, made);
    if (!made.resubmitted) return answerRequest(res, caller, made.requestId, 201);
    // The same key again: the request it made, unless this body asks for something else.
    const own = await readOwnRequest(services, { requesterId: caller.requesterId, requestId: made.requestId });
    if (!own.ok) return refused(res, own);
    if (!asksTheSame(await readAskedRequest(services, own), { resource, role, duration, reason, ticket, scope }, services.minimumDurationSeconds)) {
      logger.warn({ machine: caller.machineId, accessRequestId: own.id }, 'an Idempotency-Key was reused for a different request');
      return sendProblem(res, 422, 'idempotency_key_reused', `This Idempotency-Key was already used for request ${own.id}, which asked for something else: use a new key for a new request.`, {
        errors: { 'Idempotency-Key': 'already used for a different request' },
      });
    }
    sendJson(res, 200, resourceOf(own), { 'idempotent-replayed': 'true' });
  }

  /**
   * Several resources at once: one request an item, all made or none. The same Idempotency-Key
   * again answers the requests it made, if it asked for the same items; a different list is refused.
   */
  async function createBundle(
    res: ServerResponse,
    caller: Caller,
    asked: { items: Array<{ resourceId: string; role: string; scope: Record<string, string[]> | null }>; duration: string; reason: string; ticket: string | null; submissionKey: string | null },
  ): Promise<void> {
    const made = await requestAccessBundle(services, { requesterId: caller.requesterId, tokenId: caller.tokenId, ...asked });
    if (!made.ok) return refused(res, made);
    const owns: OwnRequest[] = [];
    for (const item of made.items) {
      const own = await readOwnRequest(services, { requesterId: caller.requesterId, requestId: item.requestId });
      if (!own.ok) return refused(res, own);
      owns.push(own);
    }
    const requests = owns.map(resourceOf);
    if (!made.resubmitted) return sendJson(res, 201, { bundle: made.bundleId, requests });
    // Each item against what it asked, in the order asked.
    let same = owns.length === asked.items.length;
    for (const [index, own] of owns.entries()) {
      if (!same) break;
      const item = asked.items[index]!;
      const body = { resource: item.resourceId, role: item.role, duration: asked.duration, reason: asked.reason, ticket: asked.ticket ?? undefined, scope: item.scope };
      same = asksTheSame(await readAskedRequest(services, own), body, services.minimumDurationSeconds);
    }
    if (!same) {
      logger.warn({ machine: caller.machineId, bundle: made.bundleId }, 'an Idempotency-Key was reused for a different request');
      return sendProblem(res, 422, 'idempotency_key_reused', `This Idempotency-Key was already used for the requests of ${made.bundleId}, which asked for something else: use a new key for a new request.`, {
        errors: { 'Idempotency-Key': 'already used for a different request' },
      });
    }
    sendJson(res, 200, { bundle: made.bundleId, requests }, { 'idempotent-replayed': 'true' });
  }

  async function getRequest(req: IncomingMessage, res: ServerResponse, caller: Caller, id: string | undefined): Promise<void> {
    const raw = new URL(req.url ?? '', 'http://latch').searchParams.get('wait');
    if (raw === null) return answerRequest(res, caller, id!, 200);
    const wait = /^\d{1,3}$/.test(raw) ? waitSeconds.safeParse(Number(raw)) : null;
    if (!wait?.success) {
      return sendProblem(res, 422, 'invalid_wait', `wait must be a whole number of seconds from 0 to 60, not "${raw.slice(0, 20)}": ask again to wait longer.`, { errors: { wait: 'a whole number from 0 to 60' } });
    }
    // The wait ends early when the client hangs up (nobody to answer) or Latch shuts down.
    const hungUp = new AbortController();
    const onClose = () => hungUp.abort();
    res.once('close', onClose);
    try {
      const signal = stopWaiting ? AbortSignal.any([hungUp.signal, stopWaiting]) : hungUp.signal;
      const waited = await waitForRequest(services, { requesterId: caller.requesterId, requestId: id!, timeoutMs: wait.data * 1000, signal });
      if (!waited.ok) return refused(res, waited);
      if (hungUp.signal.aborted) logger.debug({ machine: caller.machineId, accessRequestId: waited.id }, 'long-poll ended early: the client hung up');
      else sendJson(res, 200, resourceOf(waited));
    } finally {
      res.off('close', onClose);
    }
  }

  async function releaseRequest(_req: IncomingMessage, res: ServerResponse, caller: Caller, id: string | undefined): Promise<void> {
    // Only the caller's own: another's request answers as one that does not exist.
    const own = await readOwnRequest(services, { requesterId: caller.requesterId, requestId: id! });
    if (!own.ok) return refused(res, own);
    const ended = await endAccessEarly(services, { requestId: id!, userId: caller.requesterId, tokenId: caller.tokenId });
    if (!ended.ok) return refused(res, ended);
    await answerRequest(res, caller, id!, 200);
  }

  async function fetchCredentials(_req: IncomingMessage, res: ServerResponse, caller: Caller, id: string | undefined): Promise<void> {
    const issued = await issueCredentials(services, { requestId: id!, requesterId: caller.requesterId, tokenId: caller.tokenId });
    if (!issued.ok) return refused(res, issued);
    const { credentials } = issued;
    // The password is in this answer and nowhere else: the body is never logged, and no-store keeps it out of caches.
    const body: CredentialsResource = { ...credentials, validUntil: iso(credentials.validUntil) };
    sendJson(res, 200, body);
  }

  async function listAccess(_req: IncomingMessage, res: ServerResponse, caller: Caller): Promise<void> {
    const access = await listOwnAccess(services, caller.requesterId);
    sendJson(res, 200, { access: access.map(resourceOf) });
  }

  /** `POST /oidc/token`: no bearer token, the OIDC token in the body is the credential. */
  async function exchangeToken(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') return sendProblem(res, 405, 'method_not_allowed', 'Use POST.', { headers: { allow: 'POST' } });
    const ip = clientAddress(req, trustedProxyHops);
    const wait = oidcLimiter.take(`ip:${addressLimitKey(ip)}`);
    if (wait !== null) {
      refusals.refused('oidc rate limited', { ip }, 'OIDC token exchange refused: too many calls from this address');
      return sendProblem(res, 429, 'rate_limited', `Too many token exchanges from this address: try again in ${wait} s.`, { headers: { 'retry-after': String(wait) } });
    }
    if (!oidc) return sendProblem(res, 404, 'not_found', 'Workload identity (OIDC) is not set up on this Latch.');
    const body = await readBody(req, res, ['application/json', 'application/x-www-form-urlencoded']);
    if (body === undefined) return;
    const parsed = oidcTokenBody.safeParse(body);
    // A missing or oversized token is still a refusal to audit: `malformed` below says what to send.
    const jwt = parsed.success ? parsed.data.token : '';
    const exchanged = await exchangeOidcToken({ db: services.db, policy: services.policy, clock: services.clock, ...oidc }, { jwt, ip });
    if (!exchanged.ok) {
      // Never the token itself: the audit event and this line say whose it claimed to be.
      logger.warn({ code: `oidc_${exchanged.refusal}`, ip, detail: exchanged.detail }, 'OIDC token exchange refused');
      const headers: Record<string, string> = exchanged.status === 401 ? { 'www-authenticate': 'Bearer realm="latch", error="invalid_token"' } : exchanged.status === 503 ? { 'retry-after': '60' } : {};
      return sendProblem(res, exchanged.status, `oidc_${exchanged.refusal}`, exchanged.message, { headers });
    }
    logger.info({ machine: exchanged.machineId, tokenId: exchanged.tokenId, ip }, 'OIDC token exchanged for an API token');
    sendJson(res, 200, { access_token: exchanged.token, token_type: 'Bearer', expires_in: Math.max(0, Math.floor((exchanged.expiresAt.getTime() - services.clock.now().getTime()) / 1000)), expires_at: exchanged.expiresAt.toISOString(), machine: exchanged.machineId });
  }

  async function answerRequest(res: ServerResponse, caller: Caller, requestId: string, status: number): Promise<void> {
    const own = await readOwnRequest(services, { requesterId: caller.requesterId, requestId });
    if (!own.ok) return refused(res, own);
    sendJson(res, status, resourceOf(own));
  }

  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '').split(/[?#]/, 1)[0]!.slice(API_PREFIX.length);
    if (path === '/openapi.json') {
      if (req.method !== 'GET' && req.method !== 'HEAD') return sendProblem(res, 405, 'method_not_allowed', 'Use GET.', { headers: { allow: 'GET, HEAD' } });
      res.writeHead(200, { 'content-type': 'application/json' }).end(openapi);
      return;
    }
    if (path === '/oidc/token') return exchangeToken(req, res);
    if (path === '/logins') return startLogin(req, res);
    if (path === '/logins/token') return collectLogin(req, res);
    const route = routes.map((candidate) => ({ candidate, match: candidate.pattern.exec(path) })).find(({ match }) => match);
    if (!route) return sendProblem(res, 404, 'not_found', `There is no ${API_PREFIX}${path.slice(0, 100)}: see ${API_PREFIX}/openapi.json.`);
    const handler = route.candidate.methods[req.method ?? ''];
    if (!handler) {
      const allow = Object.keys(route.candidate.methods).join(', ');
      return sendProblem(res, 405, 'method_not_allowed', `Use ${allow} here.`, { headers: { allow } });
    }
    // A 503 is Latch failing to ask Slack about a person whose secret matched: not counted.
    const checked = await failedTokenChecks.check(clientAddress(req, trustedProxyHops), API_PREFIX, () => authenticateApiCaller(services, req.headers.authorization), (auth) => !auth.ok && auth.status === 401);
    if (!checked.ok) return refuseUnchecked(res, checked.waitSeconds);
    const auth = checked.result;
    if (!auth.ok) {
      // Never the token itself: its id, when it named a real one, is enough to find it. One line a
      // check: failedTokenChecks already bounds them to 30 an address, then one every 2 s.
      logger.warn({ rejection: auth.rejection, tokenId: auth.tokenId, path: route.candidate.pattern.source }, 'API call refused: bad token');
      const headers: Record<string, string> = auth.status === 401 ? { 'www-authenticate': `Bearer realm="latch", error="invalid_token"` } : { 'retry-after': '30' };
      return sendProblem(res, auth.status, `token_${auth.rejection}`, auth.message, { headers });
    }
    markAuthenticated(req);
    const caller: Caller = { requesterId: auth.requesterId, machineId: auth.kind === 'machine' ? auth.machine.id : null, tokenId: auth.tokenId };
    const wait = limiter.take(caller.requesterId);
    if (wait !== null) {
      return sendProblem(res, 429, 'rate_limited', `Too many calls from ${caller.machineId ?? 'your login'}: try again in ${wait} s.`, { headers: { 'retry-after': String(wait) } });
    }
    await handler(req, res, caller, route.match?.[1] === undefined ? undefined : decodeURIComponentSafe(route.match[1]));
  };
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** The body as JSON, or undefined once a problem has been answered. */
function readJsonBody(req: IncomingMessage, res: ServerResponse): Promise<unknown> {
  return readBody(req, res, ['application/json']);
}

/** The body as JSON, or a form's fields as an object, or undefined once a problem has been answered. */
async function readBody(req: IncomingMessage, res: ServerResponse, mediaTypes: readonly string[]): Promise<unknown> {
  const mediaType = (req.headers['content-type'] ?? '').split(';', 1)[0]!.trim().toLowerCase();
  if (!mediaTypes.includes(mediaType)) {
    const form = mediaTypes.includes('application/x-www-form-urlencoded') ? ' (or as a form, application/x-www-form-urlencoded)' : '';
    sendProblem(res, 415, 'unsupported_media_type', `Send the body as JSON, with Content-Type: application/json${form}.`);
    return undefined;
  }
  const read = await readLimitedBody(req, MAX_BODY_BYTES);
  if (!read.ok) {
    sendProblem(res, read.status, 'unreadable_body', read.status === 413 ? `The body is over ${MAX_BODY_BYTES} bytes.` : 'The body could not be read.', { headers: { connection: 'close' } });
    return undefined;
  }
  if (mediaType === 'application/x-www-form-urlencoded') return Object.fromEntries(new URLSearchParams(read.text));
  try {
    return JSON.parse(read.text) as unknown;
  } catch {
    sendProblem(res, 400, 'malformed_json', 'The body is not valid JSON.');
    return undefined;
  }
}

function refused(res: ServerResponse, { refusal }: Refused): void {
  sendProblem(res, statusOfRefusal(refusal.code), refusal.code, refusal.message, refusal.fields ? { errors: { ...refusal.fields } } : {});
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers }).end(JSON.stringify(body));
}

/** The Idempotency-Key header, if sent (key null when not), or why it is not a key. */
function idempotencyKeyOf(req: IncomingMessage): { ok: true; key: string | null } | { ok: false; message: string } {
  const header = req.headers['idempotency-key'];
  if (header === undefined) return { ok: true, key: null };
  // Node joins a repeated header's values with ", ": typed as a list, it never is one here.
  return parseIdempotencyKey(Array.isArray(header) ? header.join(', ') : header);
}

const iso = (at: Date | null) => at?.toISOString() ?? null;

/** A request as the API and the MCP tools answer with it. */
export function resourceOf(request: OwnRequest): RequestResource {
  const state: ApiRequestState = request.state === 'pending' ? 'pending_approval' : request.state;
  return {
    id: request.id,
    state,
    resource: request.resourceId,
    role: request.role,
    account: request.principal,
    durationSeconds: request.durationSeconds,
    reason: request.reason,
    ticket: request.ticket,
    scope: request.scope,
    createdAt: request.createdAt.toISOString(),
    decidedAt: iso(request.decidedAt),
    decidedByRule: request.decidedByRule,
    outcome: request.outcomeReason,
    grant: request.grant
      ? { grantedAt: iso(request.grant.grantedAt), expiresAt: iso(request.grant.expiresAt), revokedAt: iso(request.grant.revokedAt), verifiedRevokedAt: iso(request.grant.verifiedRevokedAt) }
      : null,
  };
}
