import { expirePendingRequests } from '../../services/expire-pending-requests.ts';
import { defineSweep } from '../job-definition.ts';

/** Expires pending requests past their decision time; the use case tells people. */
export const expirePendingRequestsJob = defineSweep({
  name: 'expire-pending-requests',
  everyMs: (settings) => settings.sweepEveryMs,
  run: (ctx) => expirePendingRequests(ctx.access),
});
