import { announceMissedRequests } from '../../services/announce-missed-requests.ts';
import { defineSweep } from '../job-definition.ts';

/** Announces again the requests whose approval message Slack refused earlier. */
export const announceMissedRequestsJob = defineSweep({
  name: 'announce-missed-requests',
  everyMs: (settings) => settings.sweepEveryMs,
  run: (ctx) => announceMissedRequests(ctx.access),
});
