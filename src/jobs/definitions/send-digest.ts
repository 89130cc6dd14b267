import { z } from 'zod';
import { announceDigest } from '../../services/announce-digest.ts';
import { defineScheduledJob } from '../job-definition.ts';
import { JOB_QUEUES } from '../job-queue-specs.ts';

/**
 * Posts each digest of the policy on its cron schedule and time zone, once per run however many
 * workers there are. A digest added, changed or removed by a policy reload is scheduled
 * accordingly at the next schedule check.
 */
export const sendDigestJob = defineScheduledJob({
  name: 'digest',
  queue: JOB_QUEUES.digests,
  payload: z.object({ name: z.string().min(1) }),
  schedule: {
    kind: 'cron',
    idPrefix: 'digest-',
    entries: (ctx) =>
      ctx.access.policy().digests.map((digest) => ({ id: `digest-${digest.name}`, pattern: digest.schedule, timeZone: digest.timeZone, payload: { name: digest.name } })),
  },
  options: () => ({ removeOnComplete: 100, removeOnFail: 100, attempts: 3, backoff: { type: 'exponential', delay: 10_000 } }),
  describe: (running) => running.map(({ name }) => `the digest ${name}`).join(', '),
  run: (ctx, { name }) => announceDigest(ctx.access, name),
});
