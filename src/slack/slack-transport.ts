import { SocketModeReceiver, type BufferedIncomingMessage, type Logger as SlackLogger, type Middleware, type Receiver, type AnyMiddlewareArgs } from '@slack/bolt';
import type { FetchFunction } from '@slack/web-api';
import type { SlackRequestEvidence } from '../domain/decision-evidence.ts';
import { withLogContext } from '../logging/log-context.ts';
import type { Logger } from '../logging/logger.ts';
import type { RequestListener } from './http-server.ts';
import type { SeenSignatures } from './seen-signatures.ts';
import { guardSignedRequests } from './signed-request-guard.ts';
import { VerifiedRequestReceiver } from './verified-request-receiver.ts';
import { slackErrorOf } from './web-api-response.ts';

export const SLACK_EVENTS_PATH = '/slack/events';

const CONNECT_TIMEOUT_MS = 30_000;
// Slack answers a close frame at once; a peer that never does must not hold a shutdown for long.
const DISCONNECT_TIMEOUT_MS = 5_000;

/**
 * Where a Socket Mode connection stands. `disconnected` after a drop or a `disconnect` message
 * from Slack, until the client, after a short pause, opens a new connection (`reconnecting`).
 */
export type SocketState = 'not connected' | 'connecting' | 'connected' | 'disconnected' | 'reconnecting';

/**
 * How Slack's commands, clicks and events reach Latch. Over HTTP Slack posts signed requests to
 * SLACK_EVENTS_PATH; in Socket Mode Latch opens a WebSocket to Slack and gets the same payloads
 * as envelopes on it. Either way Bolt hands them to the same listeners.
 */
export interface SlackTransport {
  readonly mode: 'http' | 'socket-mode';
  readonly receiver: Receiver;
  /** Answers every HTTP request to SLACK_EVENTS_PATH: the signed-request guard, then Bolt; a 404 in Socket Mode. */
  readonly requestListener: RequestListener;
  /**
   * Socket Mode: opens the connection and waits for Slack's hello; throws a SlackConnectionError
   * when the app token is refused or no connection opens in time. Nothing to do over HTTP.
   */
  connect(): Promise<void>;
  /** Socket Mode: closes the connection, so no more envelopes arrive. Nothing to do over HTTP. */
  disconnect(): Promise<void>;
  /** Socket Mode: the connection's state, for /readyz. Null over HTTP: Slack connects to us. */
  socketState(): SocketState | null;
}

/** Start-up could not open the Socket Mode connection; the message is fit to print as it is. */
export class SlackConnectionError extends Error {
  constructor(
    message: string,
    /** `refused`: Slack refused the app token (a configuration mistake); `unavailable`: could not connect. */
    readonly reason: 'refused' | 'unavailable',
  ) {
    super(message);
    this.name = 'SlackConnectionError';
  }
}

export interface SlackTransportOptions {
  signingSecret: string;
  /** An app-level token (xapp-): Socket Mode. Absent: HTTP. */
  appToken?: string | undefined;
  /** Base URL of the Web API, where apps.connections.open goes; Slack's own when absent. */
  apiUrl?: string | undefined;
  /** The fetch the Web API clients use (Latch's counts errors and 429s for the metrics). */
  fetch?: FetchFunction | undefined;
  logger: SlackLogger;
  /** Over HTTP: where the signatures of the requests taken are remembered (against replays), and the log of refusals. */
  http?: { seenSignatures: SeenSignatures; logger: Logger };
  connectTimeoutMs?: number;
}

export function createSlackTransport(options: SlackTransportOptions): SlackTransport {
  return options.appToken ? socketModeTransport({ ...options, appToken: options.appToken }) : httpTransport(options);
}

/**
 * Gives each Socket Mode envelope's log lines the envelope id as their `requestId`, as each HTTP
 * request's lines carry one (the HTTP server sets it there).
 */
export const envelopeLogContext: Middleware<AnyMiddlewareArgs> = async ({ context, next }) => {
  const envelopeId = context.envelopeId;
  if (typeof envelopeId === 'string') await withLogContext({ requestId: envelopeId }, next);
  else await next();
};

/** The listener context's key for how a request reached Latch (see evidenceOf). */
export const EVIDENCE_PROPERTY = 'slackEvidence';

/**
 * The signed request exactly as Slack sent it, handed to listeners in their context so a
 * person's decision can keep it as evidence (the receiver has verified it by then).
 */
function signedRequestOf(req: BufferedIncomingMessage): Record<string, SlackRequestEvidence> {
  const header = (name: string) => {
    const value = req.headers[name];
    return Array.isArray(value) ? (value[0] ?? '') : (value ?? '');
  };
  return {
    [EVIDENCE_PROPERTY]: { transport: 'http', rawBody: req.rawBody, timestamp: header('x-slack-request-timestamp'), signature: header('x-slack-signature') },
  };
}

function httpTransport({ signingSecret, logger, http }: SlackTransportOptions): SlackTransport {
  if (!http) throw new Error('Slack over HTTP needs where to remember the signatures it took (seenSignatures), against replays');
  // Every request to SLACK_EVENTS_PATH passes the guard before any listener sees it: body limit,
  // signature (HMAC-SHA256 of `v0:timestamp:body`), timestamp bounds, replay; the receiver then
  // hands the payload the guard parsed to Bolt.
  const receiver = new VerifiedRequestReceiver(logger, signedRequestOf);
  return {
    mode: 'http',
    receiver,
    requestListener: guardSignedRequests(receiver.dispatch, { signingSecret, seen: http.seenSignatures, logger: http.logger }),
    connect: async () => {},
    disconnect: async () => {},
    socketState: () => null,
  };
}

function socketModeTransport(options: SlackTransportOptions & { appToken: string }): SlackTransport {
  const { appToken, apiUrl, logger } = options;
  const baseFetch = options.fetch ?? (globalThis.fetch as FetchFunction);
  let onRefusal: ((error: string) => void) | null = null;
  // The client retries some refusals (not_allowed_token_type) forever, so start-up watches the
  // answers to apps.connections.open itself to fail at once with Slack's reason. Later, on a
  // reconnection, the client gives up on some (invalid_auth) by throwing where nothing catches
  // it, and the process ends: the line logged here says why.
  const watchedFetch: FetchFunction = async (url, init) => {
    const response = await baseFetch(url, init);
    if (response.status === 200 && String(url).endsWith('/apps.connections.open')) {
      const error = await slackErrorOf(response);
      if (error && TOKEN_REFUSALS.has(error)) {
        if (onRefusal) onRefusal(error);
        else logger.error(`Socket Mode: ${refusalMessage(error)}`);
      }
    }
    return response;
  };
  const receiver = new SocketModeReceiver({
    appToken,
    logger,
    installerOptions: { clientOptions: { ...(apiUrl ? { slackApiUrl: apiUrl } : {}), fetch: watchedFetch } },
    customPropertiesExtractor: (args: { envelope_id?: unknown }) => ({ envelopeId: args.envelope_id, [EVIDENCE_PROPERTY]: { transport: 'socket-mode' } }),
  });
  const client = receiver.client;
  let state: SocketState = 'not connected';
  let stopping = false;
  client.on('connecting', () => (state = 'connecting'));
  client.on('reconnecting', () => (state = 'reconnecting'));
  client.on('connected', () => {
    state = 'connected';
    logger.info('Socket Mode: connected to Slack');
  });
  client.on('close', () => {
    state = 'disconnected';
    if (!stopping) logger.warn('Socket Mode: the connection to Slack closed; reconnecting');
  });
  client.on('disconnected', () => (state = 'disconnected'));

  const disconnect = async () => {
    stopping = true;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([client.disconnect(), new Promise((resolve) => (timer = setTimeout(resolve, DISCONNECT_TIMEOUT_MS)))]);
    clearTimeout(timer);
  };

  return {
    mode: 'socket-mode',
    receiver,
    requestListener: notOverHttp,
    socketState: () => state,
    async connect() {
      const timeoutMs = options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
      let timer: NodeJS.Timeout | undefined;
      const failed = new Promise<never>((_, reject) => {
        onRefusal = (error) => reject(new SlackConnectionError(refusalMessage(error), 'refused'));
        timer = setTimeout(
          () => reject(new SlackConnectionError(`Slack's Socket Mode connection did not open within ${timeoutMs / 1000} s`, 'unavailable')),
          timeoutMs,
        );
      });
      const started = receiver.start().catch((error: unknown) => {
        const slackError = (error as { data?: { error?: unknown } }).data?.error;
        if (typeof slackError === 'string') throw new SlackConnectionError(refusalMessage(slackError), 'refused');
        throw new SlackConnectionError(`cannot open a Socket Mode connection to Slack (apps.connections.open): ${messageOf(error)}`, 'unavailable');
      });
      try {
        await Promise.race([started, failed]);
      } catch (error) {
        // Ends the retries the client would otherwise go on with.
        await disconnect();
        throw error;
      } finally {
        clearTimeout(timer);
        onRefusal = null;
      }
    },
    disconnect,
  };
}

/** In Socket Mode nothing arrives over HTTP: say so, rather than a bare 404 or a signature error. */
const notOverHttp: RequestListener = (req, res) => {
  const path = req.url?.split('?')[0];
  const text =
    path === SLACK_EVENTS_PATH
      ? `not found: this Latch receives Slack's events over Socket Mode (SLACK_APP_TOKEN is set), not at ${SLACK_EVENTS_PATH}\n`
      : 'not found\n';
  res.writeHead(404, { 'content-type': 'text/plain' }).end(text);
};

/** apps.connections.open's answers that say the app token will not do (others may pass: the client retries them). */
const TOKEN_REFUSALS = new Set([
  'not_authed',
  'invalid_auth',
  'not_allowed_token_type',
  'missing_scope',
  'token_revoked',
  'token_expired',
  'account_inactive',
  'team_disabled',
  'user_removed_from_team',
]);

function refusalMessage(error: string): string {
  const hints: Record<string, string> = {
    not_allowed_token_type: 'it must be an app-level token (xapp-…), not a bot or user token',
    missing_scope: 'the app-level token needs the connections:write scope',
    invalid_auth: 'it is not a valid app-level token of this Slack app (Basic Information → App-Level Tokens)',
    not_authed: 'no token reached Slack',
    token_revoked: 'the token was revoked: generate a new app-level token',
  };
  const hint = hints[error];
  return `SLACK_APP_TOKEN was refused by Slack (apps.connections.open: ${error})${hint ? `: ${hint}` : ''}`;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
