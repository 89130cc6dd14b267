import { endUsedAccess } from '../../services/end-used-access.ts';
import { defineSweep } from '../job-definition.ts';

/** Looks at the sessions of single-use logins; the use case ends the access whose one session is over. */
export const endUsedAccessJob = defineSweep({
  name: 'end-used-access',
  everyMs: (settings) => settings.singleUseCheckEveryMs,
  run: (ctx) => endUsedAccess(ctx.access),
});
