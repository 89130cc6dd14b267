import { scanStandingAccess } from '../../services/scan-standing-access.ts';
import { defineSweep } from '../job-definition.ts';

/** Asks the providers who holds each role; the use case tells the security channel of holders without a grant. */
export const scanStandingAccessJob = defineSweep({
  name: 'scan-standing-access',
  everyMs: (settings) => settings.scanEveryMs,
  run: (ctx) => scanStandingAccess(ctx.access),
});
