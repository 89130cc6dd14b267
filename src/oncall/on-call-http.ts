import type { z } from 'zod';

/**
 * One GET to an on-call provider's REST API, read through a schema. Every way it can go wrong
 * becomes an OnCallUnavailable whose message is fit to show approvers on the card: it names the
 * provider and what happened, never the key, the URL's query, or the provider's own error text.
 */
export class OnCallUnavailable extends Error {
  override readonly name = 'OnCallUnavailable';
}

export interface OnCallHttp {
  /** The provider's name as people know it (PagerDuty). */
  service: string;
  baseUrl: string;
  /** The Authorization header's value: a secret, never logged or shown. */
  authorization: string;
  accept?: string;
}

export async function getJson<T>(http: OnCallHttp, path: string, query: URLSearchParams, schema: z.ZodType<T>, signal: AbortSignal): Promise<T> {
  const url = new URL(path.replace(/^\//, ''), http.baseUrl.endsWith('/') ? http.baseUrl : `${http.baseUrl}/`);
  url.search = query.toString();
  let response: Response;
  try {
    response = await fetch(url, { headers: { authorization: http.authorization, accept: http.accept ?? 'application/json' }, signal, redirect: 'error' });
  } catch (error) {
    if (signal.aborted) throw new OnCallUnavailable(`${http.service} did not answer in time`);
    throw new OnCallUnavailable(`${http.service} could not be reached (${(error as Error).name})`);
  }
  if (response.status === 429) {
    await response.body?.cancel();
    throw new OnCallUnavailable(`${http.service} is limiting Latch's requests (429 rate limit)`);
  }
  if (response.status === 401 || response.status === 403) {
    await response.body?.cancel();
    throw new OnCallUnavailable(`${http.service} refused Latch's API key (${response.status}): check its access`);
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new OnCallUnavailable(`${http.service} answered with an error (${response.status})`);
  }
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    if (signal.aborted) throw new OnCallUnavailable(`${http.service} did not answer in time`);
    throw new OnCallUnavailable(`${http.service} answered with something that is not JSON`);
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new OnCallUnavailable(`${http.service} answered in a shape Latch does not know`);
  return parsed.data;
}
