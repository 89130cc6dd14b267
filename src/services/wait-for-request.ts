import { setTimeout as sleep } from 'node:timers/promises';
import { readOwnRequest, type OwnRequest } from './read-own-request.ts';
import type { Refused } from './refusal.ts';
import type { ServiceContext } from './service-context.ts';

/** The longest one wait may last: a caller that wants longer asks again (long-poll). */
export const MAX_WAIT_MS = 60_000;

/** How often a waiting caller's request is read again. */
const POLL_INTERVAL_MS = 500;

/**
 * A request is worth answering a waiter about once nobody needs to decide anything more: it is
 * granted (active), or it ended without access (denied, cancelled, expired, failed, revoked). An
 * approved request still waits: its access is not there until the grant job has run.
 */
export function isSettled(request: Pick<OwnRequest, 'state'>): boolean {
  return request.state !== 'pending' && request.state !== 'approved';
}

/**
 * Waits, at most `timeoutMs` (capped at MAX_WAIT_MS), for one of the requester's own requests to
 * settle (isSettled), and gives it back as it is then: settled, or still waiting when the time
 * was up or `signal` aborted (the caller hung up). Another requester's request answers as one
 * that does not exist, as readOwnRequest does.
 *
 * It reads the request again every POLL_INTERVAL_MS rather than listening for its events: the
 * decision is taken in whichever `latch web` process Slack reached and the grant in a worker, so
 * a process holding a waiter may hear of neither. One indexed read a half second per waiter.
 */
export async function waitForRequest(
  ctx: Pick<ServiceContext, 'db'>,
  input: { requesterId: string; requestId: string; timeoutMs: number; signal?: AbortSignal },
): Promise<({ ok: true } & OwnRequest) | Refused> {
  const deadline = Date.now() + Math.min(Math.max(0, input.timeoutMs), MAX_WAIT_MS);
  for (;;) {
    const read = await readOwnRequest(ctx, input);
    if (!read.ok || isSettled(read) || input.signal?.aborted) return read;
    const left = deadline - Date.now();
    if (left <= 0) return read;
    try {
      await sleep(Math.min(POLL_INTERVAL_MS, left), undefined, { signal: input.signal });
    } catch {
      // Aborted: the next read answers with the request as it is now.
    }
  }
}
