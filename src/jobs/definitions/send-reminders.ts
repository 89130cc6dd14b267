import { z } from 'zod';
import { sendReminders } from '../../services/send-reminders.ts';
import { defineScheduledJob } from '../job-definition.ts';
import { JOB_QUEUES } from '../job-queue-specs.ts';

/** Reminds people of what waits for them: unreviewed break-glass use, undecided requests. */
export const sendRemindersJob = defineScheduledJob({
  name: 'send-reminders',
  queue: JOB_QUEUES.maintenance,
  payload: z.object({}),
  schedule: { kind: 'every', everyMs: (settings) => settings.sweepEveryMs },
  options: () => ({ removeOnComplete: 100, removeOnFail: 100 }),
  describe: () => 'the send-reminders sweep',
  run: (ctx) => sendReminders(ctx.access),
});
