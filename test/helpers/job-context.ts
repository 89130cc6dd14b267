import type { JobContext } from '../../src/jobs/job-context.ts';
import { createLogger } from '../../src/logging/logger.ts';
import type { AccessContext } from '../../src/services/access-context.ts';

/**
 * A jobs' context for tests of the runner and the definitions: what a test gives is used, and the
 * use cases' context throws when a test that did not give one reaches for it.
 * What the use cases publish is the given context's `events` (RecordingEvents of testServiceContext).
 */
export function testJobContext(given: Partial<Omit<JobContext, 'jobs' | 'access'>> & { access?: Partial<AccessContext> } = {}): Omit<JobContext, 'jobs'> {
  const { access, ...rest } = given;
  return { access: onlyWhatIsGiven(access ?? {}), logger: createLogger({ level: 'silent' }), ...rest };
}

function onlyWhatIsGiven(access: Partial<AccessContext>): AccessContext {
  return new Proxy(access, {
    get(target, property) {
      if (property in target || typeof property === 'symbol' || property === 'then') return target[property as keyof AccessContext];
      throw new Error(`this test gave the jobs no access.${String(property)}`);
    },
  }) as AccessContext;
}
