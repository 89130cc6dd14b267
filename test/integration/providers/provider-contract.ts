import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccessProvider, ProviderGrant } from '../../../src/providers/provider.ts';

/**
 * What every provider must do, run against each one with a real (or faithfully faked) target.
 * A provider's own test file calls `describeProviderContract` with a fixture, then adds tests
 * for what is particular to it.
 */
export interface ContractFixture {
  provider: AccessProvider;
  /** A role the target has, and a principal the target knows, with no access to begin with. */
  role: string;
  principal: string;
  /** Asks the target itself (not the provider) whether `principal` has `role` now. */
  hasAccess(principal: string, role: string): Promise<boolean>;
  /** A second principal that must keep its access when the first's is revoked. */
  bystander: string;
  /** A role id the provider cannot grant (the target does not have it): must fail permanently. */
  missingRole: string;
  cleanup(): Promise<void>;
}

export function describeProviderContract(
  name: string,
  setup: () => Promise<ContractFixture>,
  capabilities: { lists: boolean },
): void {
  describe(`${name}: the provider contract`, () => {
    let f: ContractFixture;
    const grantFor = (principal: string, role = f.role): ProviderGrant => ({
      grantId: randomUUID(),
      requestId: randomUUID(),
      resourceId: 'contract-resource',
      role,
      principal,
      expiresAt: new Date(Date.now() + 3_600_000),
    });

    beforeAll(async () => {
      f = await setup();
    });
    afterAll(async () => {
      await f.provider.close?.();
      await f.cleanup();
    });

    it('grants, reports the access through check, and revokes it', async () => {
      const grant = grantFor(f.principal);
      expect(await f.hasAccess(f.principal, f.role)).toBe(false);
      expect(await f.provider.grant(grant)).toEqual({ ok: true, value: undefined });
      expect(await f.hasAccess(f.principal, f.role)).toBe(true);
      expect(await f.provider.check(grant)).toEqual({ ok: true, value: true });
      expect(await f.provider.revoke(grant)).toEqual({ ok: true, value: undefined });
      expect(await f.hasAccess(f.principal, f.role)).toBe(false);
      expect(await f.provider.check(grant)).toEqual({ ok: true, value: false });
    });

    it('is idempotent: granting twice and revoking twice succeed', async () => {
      const grant = grantFor(f.principal);
      expect((await f.provider.grant(grant)).ok).toBe(true);
      expect((await f.provider.grant(grant)).ok).toBe(true);
      expect(await f.hasAccess(f.principal, f.role)).toBe(true);
      expect((await f.provider.revoke(grant)).ok).toBe(true);
      expect((await f.provider.revoke(grant)).ok).toBe(true);
      expect(await f.hasAccess(f.principal, f.role)).toBe(false);
    });

    it('leaves everybody else’s access alone', async () => {
      await f.provider.grant(grantFor(f.bystander));
      const grant = grantFor(f.principal);
      await f.provider.grant(grant);
      await f.provider.revoke(grant);
      expect(await f.hasAccess(f.bystander, f.role)).toBe(true);
      await f.provider.revoke(grantFor(f.bystander));
    });

    it('fails permanently, with a message for people, for a role the target does not have', async () => {
      const result = await f.provider.grant(grantFor(f.principal, f.missingRole));
      expect(result).toEqual({ ok: false, failure: { kind: 'permanent', message: expect.stringMatching(/\S/) } });
    });

    if (capabilities.lists) {
      it('lists who holds the role', async () => {
        const grant = grantFor(f.principal);
        await f.provider.grant(grant);
        const listed = await f.provider.list!(f.role);
        expect(listed.ok && listed.value).toContain(f.principal);
        await f.provider.revoke(grant);
        const after = await f.provider.list!(f.role);
        expect(after.ok && after.value).not.toContain(f.principal);
      });
    } else {
      it('says it cannot list, rather than listing nobody', () => {
        expect(f.provider.list).toBeUndefined();
      });
    }
  });
}
