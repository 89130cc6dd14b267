import { z } from 'zod';
import { defineScheduledJob } from '../job-definition.ts';
import { JOB_QUEUES } from '../job-queue-specs.ts';

/** Posts the approval messages Slack refused earlier. */
export const announceMissedRequestsJob = defineScheduledJob({
  name: 'announce-missed-requests',
  queue: JOB_QUEUES.maintenance,
  payload: z.object({}),
  schedule: { kind: 'every', everyMs: (settings) => settings.sweepEveryMs },
  options: () => ({ removeOnComplete: 100, removeOnFail: 100 }),
  describe: () => 'the announce-missed-requests sweep',
  run: (ctx) => ctx.sweeps.announceMissedRequests(),
});
