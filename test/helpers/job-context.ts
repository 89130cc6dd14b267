import type { AccessEvents, JobContext, SlackSweeps } from '../../src/jobs/job-context.ts';
import { createLogger } from '../../src/logging/logger.ts';
import type { AccessContext } from '../../src/services/access-context.ts';

export type HeardEvent = [keyof AccessEvents, string];

/**
 * A jobs' context for tests of the runner and the definitions: what a test gives is used, the
 * sweeps and digests do nothing, events are recorded in `heard`, and the use cases' context throws
 * when a test that did not give one reaches for it.
 */
export function testJobContext(given: Partial<Omit<JobContext, 'jobs' | 'access'>> & { access?: Partial<AccessContext> } = {}): {
  context: Omit<JobContext, 'jobs'>;
  heard: HeardEvent[];
} {
  const heard: HeardEvent[] = [];
  const record = (event: keyof AccessEvents) => async (id: string) => void heard.push([event, id]);
  const events: AccessEvents = {
    granted: record('granted'),
    grantFailed: record('grantFailed'),
    ended: record('ended'),
    revocationOverdue: record('revocationOverdue'),
    overdueRevocationDone: record('overdueRevocationDone'),
    standingAccessScanned: async () => undefined,
  };
  const sweeps: SlackSweeps = { expirePendingRequests: async () => {}, announceMissedRequests: async () => {}, sendReminders: async () => {} };
  const { access, ...rest } = given;
  return {
    context: { access: onlyWhatIsGiven(access ?? {}), events, sweeps, postDigest: async () => {}, logger: createLogger({ level: 'silent' }), ...rest },
    heard,
  };
}

/** Events are told after their state change commits, so a test sees the state a moment first. */
export function heardOf(heard: HeardEvent[], event: keyof AccessEvents, subject: string): boolean {
  return heard.some(([name, id]) => name === event && id === subject);
}

function onlyWhatIsGiven(access: Partial<AccessContext>): AccessContext {
  return new Proxy(access, {
    get(target, property) {
      if (property in target || typeof property === 'symbol' || property === 'then') return target[property as keyof AccessContext];
      throw new Error(`this test gave the jobs no access.${String(property)}`);
    },
  }) as AccessContext;
}
