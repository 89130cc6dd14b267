import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccessProvider, ProviderDefinition, ProviderGrant } from '../../../src/providers/provider.ts';
import type { ProviderServices } from '../../../src/providers/target-lock.ts';

/**
 * What every provider must do, run against each registered definition with a real (or faithfully
 * faked) target. Each definition has a fixture in `contract-fixtures/<type>.ts` exporting
 * `setUpContract`; a definition without one fails the suite. A provider's own test file adds
 * tests for what is particular to it.
 */
export interface ContractFixture {
  /** The resource's settings as a policy file gives them (checked against the definition's schema). */
  settings: Record<string, unknown>;
  /** The environment those settings name (secrets, URLs). */
  env: Record<string, string>;
  /** What Latch lends providers, where the provider needs it (the lock). */
  services?: ProviderServices;
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

export type ContractSetUp = () => Promise<ContractFixture>;

/** Where a provider type's fixture lives. */
export const fixtureFile = (type: string) => new URL(`./contract-fixtures/${type}.ts`, import.meta.url);

async function loadFixture(type: string): Promise<ContractSetUp> {
  const file = fixtureFile(type);
  const missing =
    `the provider "${type}" is registered but has no contract fixture: add ` +
    `test/integration/providers/contract-fixtures/${type}.ts exporting setUpContract (see provider-contract.ts)`;
  if (!existsSync(file)) throw new Error(missing);
  const module = (await import(file.href)) as { setUpContract?: ContractSetUp };
  if (typeof module.setUpContract !== 'function') throw new Error(missing);
  return module.setUpContract;
}

export function describeProviderContract(definition: ProviderDefinition): void {
  const { capabilities } = definition;
  describe(`${definition.type}: the provider contract`, () => {
    let f: ContractFixture;
    let provider: AccessProvider;
    const grantFor = (principal: string, role = f.role): ProviderGrant => ({
      grantId: randomUUID(),
      requestId: randomUUID(),
      resourceId: 'contract-resource',
      role,
      principal,
      expiresAt: new Date(Date.now() + 3_600_000),
    });

    beforeAll(async () => {
      const setUp = await loadFixture(definition.type);
      f = await setUp();
      const built = definition.create(f.settings, f.env, f.services);
      if (!built.ok) throw new Error(`the fixture's settings do not build a provider: ${built.problems.join('; ')}`);
      provider = built.provider;
      // A fixture may start a server of its own (MariaDB initialises a data directory): slow on a busy machine.
    }, 180_000);
    afterAll(async () => {
      await provider?.close?.();
      await f?.cleanup();
    });

    it('is built by its definition from settings its schema accepts, and carries its type', () => {
      expect(definition.settings.safeParse(f.settings).success).toBe(true);
      expect(provider.type).toBe(definition.type);
    });

    it('offers exactly the capabilities its definition declares', () => {
      expect({
        listsHolders: typeof provider.list === 'function',
        checksPrincipal: typeof provider.checkPrincipal === 'function',
        namesAccessTarget: typeof provider.accessTarget === 'function',
        issuesCredentials: typeof provider.issueCredentials === 'function',
        verifiesRevocation: typeof provider.verifyRevoked === 'function',
        reportsEffectiveEndLag: typeof provider.effectiveEndLag === 'function',
        listsScopedAccess: typeof provider.listScopedAccess === 'function',
      }).toEqual({
        listsHolders: capabilities.listsHolders,
        checksPrincipal: capabilities.checksPrincipal,
        namesAccessTarget: capabilities.namesAccessTarget,
        issuesCredentials: capabilities.issuesCredentials,
        verifiesRevocation: capabilities.verifiesRevocation,
        reportsEffectiveEndLag: capabilities.reportsEffectiveEndLag,
        listsScopedAccess: capabilities.listsScopedAccess,
      });
    });

    it('grants, reports the access through check, and revokes it', async () => {
      const grant = grantFor(f.principal);
      expect(await f.hasAccess(f.principal, f.role)).toBe(false);
      expect(await provider.grant(grant)).toEqual({ ok: true, value: undefined });
      expect(await f.hasAccess(f.principal, f.role)).toBe(true);
      expect(await provider.check(grant)).toEqual({ ok: true, value: true });
      expect(await provider.revoke(grant)).toEqual({ ok: true, value: undefined });
      expect(await f.hasAccess(f.principal, f.role)).toBe(false);
      expect(await provider.check(grant)).toEqual({ ok: true, value: false });
    });

    it('is idempotent: granting twice and revoking twice succeed', async () => {
      const grant = grantFor(f.principal);
      expect((await provider.grant(grant)).ok).toBe(true);
      expect((await provider.grant(grant)).ok).toBe(true);
      expect(await f.hasAccess(f.principal, f.role)).toBe(true);
      expect((await provider.revoke(grant)).ok).toBe(true);
      expect((await provider.revoke(grant)).ok).toBe(true);
      expect(await f.hasAccess(f.principal, f.role)).toBe(false);
    });

    it('leaves everybody else’s access alone', async () => {
      await provider.grant(grantFor(f.bystander));
      const grant = grantFor(f.principal);
      await provider.grant(grant);
      await provider.revoke(grant);
      expect(await f.hasAccess(f.bystander, f.role)).toBe(true);
      await provider.revoke(grantFor(f.bystander));
    });

    it('fails permanently, with a message for people, for a role the target does not have', async () => {
      const result = await provider.grant(grantFor(f.principal, f.missingRole));
      expect(result).toEqual({ ok: false, failure: { kind: 'permanent', message: expect.stringMatching(/\S/) } });
    });

    if (capabilities.listsHolders) {
      it('lists who holds the role', async () => {
        const grant = grantFor(f.principal);
        await provider.grant(grant);
        const listed = await provider.list!(f.role);
        expect(listed.ok && listed.value).toContain(f.principal);
        await provider.revoke(grant);
        const after = await provider.list!(f.role);
        expect(after.ok && after.value).not.toContain(f.principal);
      });
    } else {
      it('says it cannot list, rather than listing nobody', () => {
        expect(provider.list).toBeUndefined();
      });
    }

    if (capabilities.verifiesRevocation) {
      it('verifies a revocation by looking at the target: access still there is not gone, access revoked is', async () => {
        const grant = grantFor(f.principal);
        expect((await provider.grant(grant)).ok).toBe(true);
        // Still granted: the look must say so, whatever revoke would have reported.
        const held = await provider.verifyRevoked!(grant, new Date());
        expect(held).toEqual({ ok: true, value: { gone: false, remains: expect.stringMatching(/\S/) } });
        expect((await provider.revoke(grant)).ok).toBe(true);
        expect(await provider.verifyRevoked!(grant, new Date())).toEqual({ ok: true, value: { gone: true } });
      });
    } else {
      it('says it cannot verify a revocation, rather than verifying nothing', () => {
        expect(provider.verifyRevoked).toBeUndefined();
      });
    }

    if (capabilities.reportsEffectiveEndLag) {
      it('says how long sessions may outlive a revocation of its role, in whole seconds, and refuses a role it does not have', async () => {
        const lag = await provider.effectiveEndLag!(f.role);
        expect(lag.ok).toBe(true);
        if (lag.ok && lag.value !== null) expect(Number.isSafeInteger(lag.value) && lag.value > 0).toBe(true);
        expect(await provider.effectiveEndLag!(f.missingRole)).toMatchObject({ ok: false, failure: { kind: 'permanent' } });
      });
    }

    if (capabilities.listsScopedAccess) {
      it('lists what scoped grants left on the target, and an unscoped grant is none of it', async () => {
        const grant = grantFor(f.principal);
        expect((await provider.grant(grant)).ok).toBe(true);
        const listed = await provider.listScopedAccess!();
        expect(listed.ok).toBe(true);
        expect(listed.ok && listed.value.filter((found) => found.requestId === grant.requestId)).toEqual([]);
        expect((await provider.revoke(grant)).ok).toBe(true);
      });
    }
  });
}
