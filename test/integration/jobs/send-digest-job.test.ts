import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { sendDigestJob } from '../../../src/jobs/definitions/send-digest.ts';
import { JobQueues } from '../../../src/jobs/job-queues.ts';
import { runJobs } from '../../../src/jobs/job-runner.ts';
import type { DigestPolicy, Policy } from '../../../src/domain/policy.ts';
import { createLogger } from '../../../src/logging/logger.ts';
import type { LatchEvent } from '../../../src/services/latch-events.ts';
import { systemClock } from '../../../src/services/service-context.ts';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { testJobContext } from '../../helpers/job-context.ts';

const logger = createLogger({ level: 'silent' });
const redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
afterAll(() => redis.quit());

async function waitUntil(check: () => boolean, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('the digest job', () => {
  it('sends each digest on its cron schedule, and follows the policy when digests are removed', async () => {
    const prefix = `latch-test-${randomBytes(4).toString('hex')}`;
    // Every second (cron with a seconds field), so the test does not wait a minute.
    let digests: DigestPolicy[] = [{ name: 'every-second', schedule: '* * * * * *', timeZone: 'UTC', channel: 'C0SEC', rubberStampUnderSeconds: 10 }];
    const sent: string[] = [];
    // What the job's use case says; the notifier's posting of it is tested with the notifier.
    const events = { publish: async (event: LatchEvent) => void (event.type === 'digest.due' && sent.push(event.name)) };
    const queues = new JobQueues({ redisUrl: inject('redisUrl'), prefix, logger, settings: { scheduleCheckEveryMs: 100 } });
    const context = testJobContext({ logger, access: { policy: () => ({ digests }) as Policy, clock: systemClock, events } });
    const running = await runJobs({ queues, context, definitions: [sendDigestJob] });
    const queue = new Queue('latch-digests', { connection: redis, prefix });
    try {
      await waitUntil(() => sent.length >= 2);
      expect(new Set(sent)).toEqual(new Set(['every-second']));
      expect((await queue.getJobSchedulers()).map((scheduler) => scheduler.key)).toEqual(['digest-every-second']);

      // A reload removed the digest: the next sync removes its schedule.
      digests = [];
      let schedulers = 1;
      const poll = setInterval(() => void queue.getJobSchedulers().then((found) => (schedulers = found.length)), 50);
      await waitUntil(() => schedulers === 0).finally(() => clearInterval(poll));
      // One run may already have been queued; none after it.
      const after = sent.length;
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(sent.length).toBeLessThanOrEqual(after + 1);
    } finally {
      await running.stop();
      await queues.close();
      await queue.close();
    }
  });
});
