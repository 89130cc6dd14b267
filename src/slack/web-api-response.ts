import type { FetchFunction } from '@slack/web-api';

/**
 * Slack answers its errors with HTTP 200 and `{ ok: false, error }`: the error code, read from a
 * copy of the body so the Web API client still reads the original. Null when the call succeeded
 * or the body is not Slack's JSON.
 */
export async function slackErrorOf(response: Awaited<ReturnType<FetchFunction>>): Promise<string | null> {
  const copy = (response as Partial<Response>).clone?.();
  if (!copy || !response.headers.get('content-type')?.includes('json')) return null;
  const body = (await copy.json().catch(() => null)) as { ok?: unknown; error?: unknown } | null;
  return body?.ok === false ? (typeof body.error === 'string' ? body.error : 'unknown') : null;
}
