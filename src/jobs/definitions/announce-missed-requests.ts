import { z } from 'zod';
import { announceMissedRequests } from '../../services/announce-missed-requests.ts';
import { defineScheduledJob } from '../job-definition.ts';
import { JOB_QUEUES } from '../job-queue-specs.ts';

/** Announces again the requests whose approval message Slack refused earlier. */
export const announceMissedRequestsJob = defineScheduledJob({
  name: 'announce-missed-requests',
  queue: JOB_QUEUES.maintenance,
  payload: z.object({}),
  schedule: { kind: 'every', everyMs: (settings) => settings.sweepEveryMs },
  options: () => ({ removeOnComplete: 100, removeOnFail: 100 }),
  describe: () => 'the announce-missed-requests sweep',
  async run(ctx) {
    await announceMissedRequests(ctx.access);
  },
});
