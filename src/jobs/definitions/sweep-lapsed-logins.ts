import { sweepLapsedLogins } from '../../services/sweep-lapsed-logins.ts';
import { defineSweep } from '../job-definition.ts';

/** Deletes the `latch login` rows nothing can use any more, a day on; the use case audits how many. */
export const sweepLapsedLoginsJob = defineSweep({
  name: 'sweep-lapsed-logins',
  everyMs: (settings) => settings.loginSweepEveryMs,
  run: (ctx) => sweepLapsedLogins(ctx.access),
});
