import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { JobContext } from '../../../src/jobs/job-context.ts';
import { JOB_QUEUES } from '../../../src/jobs/job-queue-specs.ts';
import { JOB_REGISTRY } from '../../../src/jobs/job-registry.ts';
import { DEFAULT_JOB_SETTINGS } from '../../../src/jobs/job-settings.ts';
import type { Policy } from '../../../src/domain/policy.ts';

/** The registry as the runner and the enqueue rely on it: no two jobs alike, ids BullMQ accepts. */
describe('the job registry', () => {
  it('names every job once', () => {
    const names = JOB_REGISTRY.map((definition) => definition.name);
    expect(new Set(names).size).toBe(names.length);
  });

  it('puts grants, revocations and Slack notices on queues of their own, and the sweeps and digests on theirs', () => {
    const queueOf = Object.fromEntries(JOB_REGISTRY.map((definition) => [definition.name, definition.queue.name]));
    expect(queueOf).toEqual({
      grant: JOB_QUEUES.grants.name,
      revoke: JOB_QUEUES.revocations.name,
      notify: JOB_QUEUES.notices.name,
      'expire-pending-requests': JOB_QUEUES.maintenance.name,
      'announce-missed-requests': JOB_QUEUES.maintenance.name,
      'refresh-outdated-messages': JOB_QUEUES.maintenance.name,
      reconcile: JOB_QUEUES.maintenance.name,
      'send-reminders': JOB_QUEUES.maintenance.name,
      'scan-standing-access': JOB_QUEUES.maintenance.name,
      'end-used-access': JOB_QUEUES.maintenance.name,
      'end-off-call-access': JOB_QUEUES.maintenance.name,
      'sweep-lapsed-logins': JOB_QUEUES.maintenance.name,
      digest: JOB_QUEUES.digests.name,
    });
    // Every queue a worker is started for is one the registry uses, and the other way round.
    expect(new Set(Object.values(queueOf))).toEqual(new Set(Object.values(JOB_QUEUES).map((queue) => queue.name)));
  });

  it('gives the ids of today, which BullMQ accepts: no colon, never all digits', () => {
    const id = randomUUID();
    const ids: string[] = [];
    for (const definition of JOB_REGISTRY) {
      if (definition.kind === 'queued') {
        const payload = definition.name === 'grant' ? { requestId: id } : definition.name === 'notify' ? { event: { type: 'vote.recorded', requestId: id }, seq: '42' } : { grantId: id };
        ids.push((definition.id as (payload: unknown) => string)(payload));
      } else if (definition.schedule.kind === 'every') {
        ids.push(definition.name);
      } else {
        const policy = { digests: [{ name: 'weekly', schedule: '0 9 * * 1', timeZone: 'UTC', channel: 'C0SEC' }] } as unknown as Policy;
        ids.push(...definition.schedule.entries({ access: { policy: () => policy } } as unknown as JobContext).map((entry) => entry.id));
      }
    }
    expect(ids).toEqual([
      `grant-${id}`,
      `revoke-${id}`,
      `notify-vote.recorded-${id}-42`,
      'expire-pending-requests',
      'announce-missed-requests',
      'refresh-outdated-messages',
      'reconcile',
      'send-reminders',
      'scan-standing-access',
      'end-used-access',
      'end-off-call-access',
      'sweep-lapsed-logins',
      'digest-weekly',
    ]);
    for (const jobId of ids) {
      expect(jobId).not.toContain(':');
      expect(jobId).not.toMatch(/^\d+$/);
    }
  });

  it('parses each payload as it is written, and refuses one that is not', () => {
    const id = randomUUID();
    const [grant, revoke] = JOB_REGISTRY;
    expect(grant.payload.parse({ requestId: id })).toEqual({ requestId: id });
    expect(revoke.payload.parse({ grantId: id })).toEqual({ grantId: id });
    for (const malformed of [undefined, null, 'grant', {}, { requestId: 42 }, { requestId: 'a:b' }]) expect(grant.payload.safeParse(malformed).success).toBe(false);
    for (const definition of JOB_REGISTRY.filter((candidate) => candidate.kind === 'scheduled' && candidate.schedule.kind === 'every')) {
      expect(definition.payload.safeParse({}).success).toBe(true);
    }
  });

  it('takes a notice as the event about a request, ids only, and for an event that may repeat the seq it follows', () => {
    const notify = JOB_REGISTRY.find((definition) => definition.name === 'notify')!;
    const [requestId, grantId] = [randomUUID(), randomUUID()];
    // What happens once to a request is named by the event alone; a vote, by the seq it follows too.
    for (const payload of [
      { event: { type: 'request.created', requestId } },
      { event: { type: 'request.decided', requestId, outcome: 'approved' } },
      { event: { type: 'vote.recorded', requestId }, seq: '7' },
      { event: { type: 'access.granted', requestId, grantId }, seq: '7' },
    ]) {
      expect(notify.payload.parse(payload)).toEqual(payload);
    }
    const id = notify.id as (payload: unknown) => string;
    expect(id({ event: { type: 'request.created', requestId } })).toBe(`notify-request.created-${requestId}`);
    expect(id({ event: { type: 'vote.recorded', requestId }, seq: '7' })).toBe(`notify-vote.recorded-${requestId}-7`);
    for (const malformed of [
      { event: { type: 'vote.recorded', requestId }, seq: 7 },
      { event: { type: 'vote.recorded', requestId }, seq: '7:1' },
      { event: { type: 'vote.recorded', requestId } },
      { event: { type: 'request.created', requestId }, seq: '7' },
      { event: { type: 'request.created', requestId: 'a:b' } },
      { event: { type: 'request.decided', requestId, outcome: 'maybe' } },
      { event: { type: 'access.granted', requestId }, seq: '7' },
      { event: { type: 'digest.due', name: 'weekly', at: new Date() } },
      { event: { type: 'standing_access.changed', found: [], resolved: [] } },
    ]) {
      expect(notify.payload.safeParse(malformed).success).toBe(false);
    }
  });

  it('keeps the retry policies: grants give up after their attempts, revocations never', () => {
    const [grant, revoke] = JOB_REGISTRY;
    expect(grant.options(DEFAULT_JOB_SETTINGS)).toMatchObject({ attempts: 9, backoff: { type: 'exponential', delay: 2_000 }, removeOnComplete: true, removeOnFail: true });
    expect(revoke.options(DEFAULT_JOB_SETTINGS)).toMatchObject({ attempts: 1_000_000, backoff: { type: revoke.retryDelay!.type }, removeOnComplete: true, removeOnFail: true });
    const permanent = Object.assign(new Error('role gone'), { name: 'PermanentProviderFailure' });
    expect(revoke.retryDelay!.delayMs(1, new Error('timeout'), DEFAULT_JOB_SETTINGS)).toBe(1_000);
    expect(revoke.retryDelay!.delayMs(1, permanent, DEFAULT_JOB_SETTINGS)).toBe(30_000);
  });
});
