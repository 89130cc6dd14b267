import type { JobContext } from './job-context.ts';

/** Tells people of an outcome already committed: a failure to tell is logged, never retried. */
export async function tell(ctx: JobContext, what: string, call: () => Promise<void>): Promise<void> {
  await call().catch((error: unknown) => ctx.logger.error({ err: error }, `could not ${what}`));
}
