import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { startMaintenance } from '../../../src/jobs/maintenance-jobs.ts';
import { createLogger } from '../../../src/logging/logger.ts';

const logger = createLogger({ level: 'silent' });
const redis = new Redis(inject('redisUrl'));
afterAll(() => redis.quit());

async function waitUntil(check: () => boolean, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('maintenance sweeps on BullMQ', () => {
  it('runs the expiry sweep on its schedule, and stops running it when stopped', async () => {
    let runs = 0;
    const prefix = `latch-test-${randomBytes(4).toString('hex')}`;
    const maintenance = await startMaintenance({
      redisUrl: inject('redisUrl'),
      prefix,
      everyMs: 150,
      logger,
      sweeps: { expirePendingRequests: async () => void runs++, announceMissedRequests: async () => {}, reconcile: async () => {}, sendReminders: async () => {}, scanStandingAccess: async () => {} },
    });
    await waitUntil(() => runs >= 3);
    await maintenance.stop();
    const after = runs;
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(runs).toBe(after);
  });

  it('gets its schedule back after Redis lost everything, at the next start', async () => {
    const prefix = `latch-test-${randomBytes(4).toString('hex')}`;
    const first = await startMaintenance({ redisUrl: inject('redisUrl'), prefix, everyMs: 60_000, logger, sweeps: { expirePendingRequests: async () => {}, announceMissedRequests: async () => {}, reconcile: async () => {}, sendReminders: async () => {}, scanStandingAccess: async () => {} } });
    await first.stop();
    // What FLUSHALL would do to this prefix's keys, without disturbing other test files.
    const keys = await redis.keys(`${prefix}:*`);
    expect(keys.length).toBeGreaterThan(0);
    await redis.del(...keys);

    let runs = 0;
    const second = await startMaintenance({ redisUrl: inject('redisUrl'), prefix, everyMs: 150, logger, sweeps: { expirePendingRequests: async () => void runs++, announceMissedRequests: async () => {}, reconcile: async () => {}, sendReminders: async () => {}, scanStandingAccess: async () => {} } });
    await waitUntil(() => runs >= 1);
    await second.stop();
    expect(runs).toBeGreaterThanOrEqual(1);
  });

  it('restores its schedules while running when Redis lost them, and runs the reconcile sweep again at once', async () => {
    const prefix = `latch-test-${randomBytes(4).toString('hex')}`;
    let reconciles = 0;
    const maintenance = await startMaintenance({
      redisUrl: inject('redisUrl'),
      prefix,
      everyMs: 60_000,
      reconcileEveryMs: 60_000,
      guardEveryMs: 100,
      logger,
      sweeps: { expirePendingRequests: async () => {}, announceMissedRequests: async () => {}, reconcile: async () => void reconciles++, sendReminders: async () => {}, scanStandingAccess: async () => {} },
    });
    try {
      await waitUntil(() => reconciles === 1);
      // FLUSHALL, for this prefix only. The next scheduled run is a minute away: only the guard can bring it back sooner.
      await redis.del(...(await redis.keys(`${prefix}:*`)));
      await waitUntil(() => reconciles === 2, 5_000);
    } finally {
      await maintenance.stop();
    }
  });
});
