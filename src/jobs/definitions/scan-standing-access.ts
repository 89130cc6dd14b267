import { z } from 'zod';
import { scanStandingAccess } from '../../services/scan-standing-access.ts';
import { defineScheduledJob } from '../job-definition.ts';
import { JOB_QUEUES } from '../job-queue-specs.ts';

/** Asks the providers who holds each role; the use case tells the security channel of holders without a grant. */
export const scanStandingAccessJob = defineScheduledJob({
  name: 'scan-standing-access',
  queue: JOB_QUEUES.maintenance,
  payload: z.object({}),
  schedule: { kind: 'every', everyMs: (settings) => settings.scanEveryMs },
  options: () => ({ removeOnComplete: 100, removeOnFail: 100 }),
  describe: () => 'the scan-standing-access sweep',
  async run(ctx) {
    await scanStandingAccess(ctx.access);
  },
});
