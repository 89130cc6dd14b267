import { z } from 'zod';
import { defineScheduledJob } from '../job-definition.ts';
import { JOB_QUEUES } from '../job-queue-specs.ts';

/** Expires pending requests past their decision time and tells people. */
export const expirePendingRequestsJob = defineScheduledJob({
  name: 'expire-pending-requests',
  queue: JOB_QUEUES.maintenance,
  payload: z.object({}),
  schedule: { kind: 'every', everyMs: (settings) => settings.sweepEveryMs },
  options: () => ({ removeOnComplete: 100, removeOnFail: 100 }),
  describe: () => 'the expire-pending-requests sweep',
  run: (ctx) => ctx.sweeps.expirePendingRequests(),
});
