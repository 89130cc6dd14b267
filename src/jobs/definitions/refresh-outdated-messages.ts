import { refreshOutdatedMessages } from '../../services/refresh-outdated-messages.ts';
import { defineSweep } from '../job-definition.ts';

/** Rewrites the request messages Slack did not take an update of, or that a stopped process left behind. */
export const refreshOutdatedMessagesJob = defineSweep({
  name: 'refresh-outdated-messages',
  everyMs: (settings) => settings.sweepEveryMs,
  run: (ctx) => refreshOutdatedMessages(ctx.access),
});
