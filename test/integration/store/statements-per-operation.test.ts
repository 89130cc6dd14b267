import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccessContext } from '../../../src/services/access-context.ts';
import { grantAccess } from '../../../src/services/grant-access.ts';
import { revokeGrant } from '../../../src/services/revoke-grant.ts';
import { APPROVE } from '../../../src/slack/blocks/ids.ts';
import { PostgresAccessLocks } from '../../../src/store/access-lock.ts';
import { LatchHarness } from '../../helpers/latch-harness.ts';
import { MemoryProvider } from '../../helpers/memory-provider.ts';
import { testPolicy } from '../../helpers/test-policy.ts';

const REQUESTER = 'U0REQUESTER';
const APPROVER = 'U0APPROVER1';

let h: LatchHarness;
let locks: PostgresAccessLocks;
let ctx: AccessContext;
const provider = new MemoryProvider();

beforeAll(async () => {
  h = await LatchHarness.start(testPolicy(), { countStatements: true });
  const proxied = new URL(h.databaseUrl);
  proxied.port = String(h.dbProxy!.port);
  locks = new PostgresAccessLocks({ databaseUrl: proxied.toString(), poolSize: 2 });
  ctx = { ...h.latch.services, providerFor: () => provider, locks };
});
afterAll(async () => {
  await locks.close();
  await h.close();
});

async function counted<T>(what: string, work: () => Promise<T>): Promise<T> {
  h.statements!.reset();
  const result = await work();
  console.log(`${what}: ${h.statements!.statements.length} statements, ${h.statements!.roundTrips} round trips\n  ${h.statements!.statements.map((s) => s.replace(/\s+/g, ' ').replace(/"public"\./g, '').slice(0, 110)).join('\n  ')}`);
  return result;
}

describe('statements per operation', () => {
  it('counts', async () => {
    await counted('warm-up command', async () => {
      await h.command(REQUESTER, 'prod-db read 2h warming up');
      await h.latch.listenerWork.idle();
    });
    await counted('command', async () => {
      await h.command(REQUESTER, 'prod-db read 2h investigating INC-42');
      await h.latch.listenerWork.idle();
    });
    const request = await h.db.accessRequest.findFirstOrThrow({ where: { reason: 'investigating INC-42' } });
    await counted('click', async () => {
      await h.click(APPROVER, APPROVE, request.id);
      await h.latch.listenerWork.idle();
    });
    expect(h.granted).toContain(request.id);
    const granted = await counted('grant', () => grantAccess(ctx, { requestId: request.id, finalAttempt: false }));
    expect(granted.outcome).toBe('granted');
    h.clock.advance(3 * 3600);
    const revoked = await counted('revocation', () => revokeGrant(ctx, (granted as { grantId: string }).grantId));
    expect(revoked.outcome).toBe('revoked');
  });
});
