import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { startDigestSchedules } from '../../../src/jobs/digest-jobs.ts';
import type { DigestPolicy } from '../../../src/domain/policy.ts';
import { createLogger } from '../../../src/logging/logger.ts';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';

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

describe('digest schedules', () => {
  it('sends each digest on its cron schedule, and follows the policy when digests are removed', async () => {
    const prefix = `latch-test-${randomBytes(4).toString('hex')}`;
    // Every second (cron with a seconds field), so the test does not wait a minute.
    let digests: DigestPolicy[] = [{ name: 'every-second', schedule: '* * * * * *', timeZone: 'UTC', channel: 'C0SEC' }];
    const sent: string[] = [];
    const running = await startDigestSchedules({ redisUrl: inject('redisUrl'), prefix, digests: () => digests, send: async (name) => void sent.push(name), logger, syncEveryMs: 100 });
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
      await queue.close();
    }
  });
});
