import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { FetchFunction } from '@slack/web-api';
import { inSpan, tracingIsOn } from './tracer.ts';

/**
 * `fetch`, with a CLIENT span around each HTTP attempt the Slack clients make: a Web API call is
 * named by its method (`slack chat.update`), a message sent to a response_url is `slack
 * response_url`. Each attempt is its own span, so a call retried after a 429 shows each try. The
 * span holds the method and the HTTP status only: never the URL of a response_url (it is a
 * credential), the token, the request's body or Slack's answer.
 */
export function tracedSlackFetch(fetch: FetchFunction, apiUrl = SLACK_API_URL): FetchFunction {
  const base = apiUrl.endsWith('/') ? apiUrl : `${apiUrl}/`;
  return (url, init) => {
    if (!tracingIsOn()) return fetch(url, init);
    const method = webApiMethodOf(String(url), base);
    const attributes = { 'slack.method': method ?? 'response_url', 'http.request.method': init?.method ?? 'GET' };
    return inSpan(`slack ${method ?? 'response_url'}`, { kind: SpanKind.CLIENT, attributes }, async (span) => {
      const response = await fetch(url, init);
      span.setAttribute('http.response.status_code', response.status);
      if (response.status >= 400) span.setStatus({ code: SpanStatusCode.ERROR, message: `HTTP ${response.status}` });
      return response;
    });
  };
}

const SLACK_API_URL = 'https://slack.com/api/';

function webApiMethodOf(url: string, base: string): string | null {
  if (!url.startsWith(base)) return null;
  const method = url.slice(base.length).split(/[?#]/)[0]!;
  return /^[a-zA-Z]+(\.[a-zA-Z]+)+$/.test(method) ? method : 'other';
}
