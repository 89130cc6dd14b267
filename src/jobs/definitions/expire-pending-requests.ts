import { z } from 'zod';
import { expirePendingRequests } from '../../services/expire-pending-requests.ts';
import { defineScheduledJob } from '../job-definition.ts';
import { JOB_QUEUES } from '../job-queue-specs.ts';

/** Expires pending requests past their decision time; the use case tells people. */
export const expirePendingRequestsJob = defineScheduledJob({
  name: 'expire-pending-requests',
  queue: JOB_QUEUES.maintenance,
  payload: z.object({}),
  schedule: { kind: 'every', everyMs: (settings) => settings.sweepEveryMs },
  options: () => ({ removeOnComplete: 100, removeOnFail: 100 }),
  describe: () => 'the expire-pending-requests sweep',
  async run(ctx) {
    await expirePendingRequests(ctx.access);
  },
});
