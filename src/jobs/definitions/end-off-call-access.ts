import { endOffCallAccess } from '../../services/end-off-call-access.ts';
import { defineSweep } from '../job-definition.ts';

/** Asks the on-call providers again; the use case ends the on-call access whose holder went off call. */
export const endOffCallAccessJob = defineSweep({
  name: 'end-off-call-access',
  everyMs: (settings) => settings.onCallCheckEveryMs,
  run: (ctx) => endOffCallAccess(ctx.access),
});
