import { createHmac } from 'node:crypto';

/**
 * Signs a request body exactly as Slack does: `v0=` + hex HMAC-SHA256, keyed with the app's
 * signing secret, of `v0:<timestamp>:<raw body>`, sent in `x-slack-signature` beside
 * `x-slack-request-timestamp` (Unix seconds).
 */
export function slackSignatureHeaders(body: string, signingSecret: string, timestamp = Math.floor(Date.now() / 1000)) {
  const signature = createHmac('sha256', signingSecret).update(`v0:${timestamp}:${body}`).digest('hex');
  return {
    'x-slack-request-timestamp': String(timestamp),
    'x-slack-signature': `v0=${signature}`,
  };
}

/** The form body Slack posts for a slash command. */
export function slashCommandBody(fields: Record<string, string>): string {
  return new URLSearchParams(fields).toString();
}

/** The form body Slack posts for an interaction (block_actions, view_submission, …). */
export function interactionBody(payload: unknown): string {
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

export interface SignedRequestOptions {
  signingSecret: string;
  /** Override to send a stale or future timestamp. */
  timestamp?: number;
  /** Defaults to form encoding, as Slack uses for commands and interactions. */
  contentType?: string;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** POSTs `body` to `url` signed as Slack signs it. */
export function postSignedToSlackApp(url: string, body: string, options: SignedRequestOptions): Promise<Response> {
  const contentType =
    options.contentType ?? (body.startsWith('{') ? 'application/json' : 'application/x-www-form-urlencoded');
  return fetch(url, {
    method: 'POST',
    headers: {
      'content-type': contentType,
      ...slackSignatureHeaders(body, options.signingSecret, options.timestamp),
      ...options.headers,
    },
    body,
    ...(options.signal ? { signal: options.signal } : {}),
  });
}
