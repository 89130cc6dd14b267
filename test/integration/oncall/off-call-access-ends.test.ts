import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_AUTO_APPROVAL_LIMITS, type ResourcePolicy } from '../../../src/domain/policy.ts';
import { createLogger } from '../../../src/logging/logger.ts';
import { ProviderOnCallDirectory } from '../../../src/oncall/on-call-directory.ts';
import { OpsgenieOnCall } from '../../../src/oncall/opsgenie-on-call.ts';
import { endOffCallAccess } from '../../../src/services/end-off-call-access.ts';
import { FakeOpsgenie } from '../../helpers/fake-opsgenie.ts';
import { LatchHarness } from '../../helpers/latch-harness.ts';
import { MemoryProvider } from '../../helpers/memory-provider.ts';
import { testPolicy, testResource } from '../../helpers/test-policy.ts';

/**
 * Issue 20: access approved because someone is on call ends when they go off call, or when the
 * incident the rule waited for is resolved. Opsgenie says who is on call but not until when, so
 * this is the periodic check's work (end-off-call-access): through the real grant and revoke jobs
 * on Redis, the access really leaves the target.
 */
const ADA = 'U0ADA';
const SCHEDULE = '5f2b1c3e-aaaa-4bbb-8ccc-000000000001';

let h: LatchHarness | undefined;
let opsgenie: FakeOpsgenie | undefined;
afterEach(async () => {
  await h?.close();
  await opsgenie?.close();
  h = opsgenie = undefined;
});

async function start(incidentOpenOn: string[] = []): Promise<{ harness: LatchHarness; provider: MemoryProvider }> {
  opsgenie = await FakeOpsgenie.start();
  opsgenie.schedules.set(SCHEDULE, { name: 'sre', onCall: ['ada@example.com'] });
  const resource: ResourcePolicy = testResource({
    autoApprove: [{ name: 'on-call-read', roles: ['read'], maxDurationSeconds: 4 * 3600, requesters: { everyone: true }, schedule: null, limits: DEFAULT_AUTO_APPROVAL_LIMITS, onCall: { provider: 'opsgenie', schedules: [SCHEDULE], escalationPolicies: [], maxLevel: null, incidentOpenOn } }],
  });
  const provider = new MemoryProvider();
  const onCall = new ProviderOnCallDirectory({ opsgenie: new OpsgenieOnCall(opsgenie.apiKey, opsgenie.apiUrl) }, createLogger({ level: 'silent' }));
  const harness = await LatchHarness.start(testPolicy([resource]), { provider, onCall });
  harness.slack.addUser({ id: ADA, name: 'ada', email: 'ada@example.com' });
  return { harness, provider };
}

/** Ada asks; the rule approves; the grant job grants. Gives back the request and what the target holds. */
async function onCallAccess(harness: LatchHarness): Promise<{ id: string; principal: string }> {
  expect((await harness.command(ADA, 'prod-db read 2h paged for the checkout outage')).status).toBe(200);
  // The command is acknowledged first; the request is stored after.
  await expect.poll(() => harness.db.accessRequest.count({ where: { requesterSlackId: ADA } }), { timeout: 15_000 }).toBe(1);
  const request = await harness.db.accessRequest.findFirstOrThrow({ where: { requesterSlackId: ADA } });
  expect(request.decidedByRule).toBe('on-call-read');
  await expect.poll(async () => (await harness.db.accessRequest.findUniqueOrThrow({ where: { id: request.id } })).state, { timeout: 15_000 }).toBe('active');
  return { id: request.id, principal: request.principal! };
}

describe('on-call access after the shift', () => {
  it('keeps the access while its holder is on call, and ends it once they are not', async () => {
    const started = await start();
    h = started.harness;
    const { id, principal } = await onCallAccess(h);
    expect(started.provider.holds(principal, 'read')).toBe(true);

    expect(await endOffCallAccess(h.latch.services)).toEqual({ ended: [], stillOnCall: 1, unchecked: 0 });

    opsgenie!.schedules.set(SCHEDULE, { name: 'sre', onCall: ['bob@example.com'] });
    const sweep = await endOffCallAccess(h.latch.services);
    expect(sweep.ended).toHaveLength(1);
    await expect.poll(() => started.provider.holds(principal, 'read'), { timeout: 15_000 }).toBe(false);
    await expect.poll(async () => (await h!.db.accessRequest.findUniqueOrThrow({ where: { id } })).state, { timeout: 15_000 }).toBe('revoked');
    const ended = await h.db.auditEvent.findFirstOrThrow({ where: { requestId: id, action: 'grant.end_requested' } });
    expect(ended.actor).toBe('policy:on-call-read');
    expect((ended.data as { reason: string }).reason).toContain('the requester is not on call now');
  });

  it('ends it when the incident it was approved for is resolved', async () => {
    const started = await start(['svc-checkout']);
    h = started.harness;
    opsgenie!.incidents.push({ id: 'i1', status: 'open', impactedServices: ['svc-checkout'] });
    const { principal } = await onCallAccess(h);
    opsgenie!.incidents[0]!.status = 'resolved';
    expect((await endOffCallAccess(h.latch.services)).ended).toHaveLength(1);
    await expect.poll(() => started.provider.holds(principal, 'read'), { timeout: 15_000 }).toBe(false);
  });

  it('ends nothing while Opsgenie cannot answer, and asks again next time', async () => {
    const started = await start();
    h = started.harness;
    const { principal } = await onCallAccess(h);
    opsgenie!.schedules.set(SCHEDULE, { name: 'sre', onCall: [] });
    opsgenie!.failures.push({ status: 503 });
    expect(await endOffCallAccess(h.latch.services)).toEqual({ ended: [], stillOnCall: 0, unchecked: 1 });
    expect(started.provider.holds(principal, 'read')).toBe(true);
    expect((await endOffCallAccess(h.latch.services)).ended).toHaveLength(1);
  });
});
