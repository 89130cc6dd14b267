import type { FetchFunction } from '@slack/web-api';

/**
 * Slack answers its errors with HTTP 200 and `{ ok: false, error }`: the error code, read from a
 * copy of the body so the Web API client still reads the original. Null when the call succeeded
 * or the body is not Slack's JSON.
 */
export async function slackErrorOf(response: Awaited<ReturnType<FetchFunction>>): Promise<string | null> {
  if (!response.headers.get('content-type')?.includes('json')) return null;
  // Latch's own fetch (slack-api-fetch.ts) answers with a body read whole, which can be read again.
  const copy = 'bodyText' in response ? response : (response as Partial<Response>).clone?.();
  if (!copy) return null;
  return slackErrorIn(await copy.text());
}

/**
 * Slack's error code in the text of a Web API answer, or null when it says `"ok": true` (or is
 * not Slack's JSON). The text is parsed only when it holds `"ok": false` somewhere: a success
 * (nearly every answer) costs a scan, and the Web API client parses it once, for itself.
 */
export function slackErrorIn(text: string): string | null {
  // In a JSON string value a quote is escaped, so `"ok": false` there cannot match.
  if (!/"ok"\s*:\s*false/.test(text)) return null;
  let body: { ok?: unknown; error?: unknown } | null;
  try {
    body = JSON.parse(text) as { ok?: unknown; error?: unknown } | null;
  } catch {
    return null;
  }
  return body?.ok === false ? (typeof body.error === 'string' ? body.error : 'unknown') : null;
}
