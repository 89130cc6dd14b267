import { sendReminders } from '../../services/send-reminders.ts';
import { defineSweep } from '../job-definition.ts';

/** Reminds people of what waits for them: unreviewed break-glass use, undecided requests. */
export const sendRemindersJob = defineSweep({
  name: 'send-reminders',
  everyMs: (settings) => settings.sweepEveryMs,
  run: (ctx) => sendReminders(ctx.access),
});
