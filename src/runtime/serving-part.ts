import type { Server } from 'node:http';
import { RefusalLog } from '../logging/refusal-log.ts';
import { drainHttpServer, requestsInProgress } from '../slack/http-server.ts';
import { finishingPart, type ShutdownPart } from './graceful-shutdown.ts';
import type { InFlightWork } from './in-flight-work.ts';

/**
 * Serving Slack, as shutdown sees it: the HTTP server stops accepting and answers the requests it
 * has, then the Bolt listeners still working after their ack (posting to Slack, writing
 * PostgreSQL) finish. Only then may PostgreSQL close: an acknowledged click is a promise to
 * carry it out.
 */
export function servingPart(server: Server, listenerWork: InFlightWork): ShutdownPart {
  let finishing: Promise<void> | null = null;
  return finishingPart('the HTTP server', {
    finish: () =>
      (finishing ??= (async () => {
        await drainHttpServer(server);
        // No more requests: the refusals counted in the last minute are said before the process goes.
        RefusalLog.flushAll();
        await listenerWork.idle();
      })()),
    busyWith() {
      const busy = [count(requestsInProgress(server), 'HTTP request'), count(listenerWork.count, 'Slack handler')].filter(Boolean);
      return busy.length > 0 ? busy.join(', ') : null;
    },
    // Past the bound, a connection still open gets no answer: Slack retries what it did not get.
    abandon: async () => server.closeAllConnections(),
  });
}

function count(n: number, noun: string): string | null {
  return n === 0 ? null : `${n} ${noun}${n === 1 ? '' : 's'}`;
}
