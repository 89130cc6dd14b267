import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { MachinePolicy, OidcAuthentication } from '../../../src/domain/machine.ts';
import { authenticateMachine } from '../../../src/services/authenticate-machine.ts';
import { createMachineToken } from '../../../src/services/create-machine-token.ts';
import { exchangeOidcToken, type OidcVerification, type OidcVerifier, type SeenOidcTokens } from '../../../src/services/exchange-oidc-token.ts';
import { createDatabase, type Database } from '../../../src/store/database.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/test-database.ts';
import { testPolicy } from '../../helpers/test-policy.ts';
import { testServiceContext } from '../../helpers/test-services.ts';

/**
 * The exchange's rules past the signature (checked with real keys in
 * test/integration/api/oidc-exchange.test.ts): how long the token it issues lasts, a token that
 * fits two machines, and a token that stops working when its machine stops authenticating the
 * way it was issued. The verifier here answers what a valid token would say.
 */

const ISSUER = 'https://token.actions.githubusercontent.com';
const RULES: OidcAuthentication = { type: 'oidc', issuer: ISSUER, audience: 'https://latch.test', claims: { repository: ['octo-org/deploy'] } };
const machine = (id: string, authentication: MachinePolicy['authentication']): MachinePolicy => ({ id, owner: { user: 'U0OWNER01' }, authentication, account: id.replaceAll('-', '_') });

let testDb: TestDatabase;
let db: Database;

beforeAll(async () => {
  testDb = await createTestDatabase();
  db = createDatabase({ databaseUrl: testDb.url, poolSize: 4 });
});
afterAll(async () => {
  await db.$disconnect();
  await testDb.drop();
});
beforeEach(async () => {
  await db.machineToken.deleteMany();
});

/** A verifier that accepts the token, as issued at `now`, expiring `lifetimeSeconds` later. */
function acceptingVerifier(lifetimeSeconds: number, seenCalls: Array<ReadonlyMap<string, readonly string[]>> = []): OidcVerifier {
  return {
    async verify(_jwt, trusted, now): Promise<OidcVerification> {
      seenCalls.push(trusted);
      return {
        ok: true,
        token: {
          workload: { issuer: ISSUER, audiences: ['https://latch.test'], claims: { repository: 'octo-org/deploy', ref: 'refs/heads/main', sub: 'repo:octo-org/deploy:ref:refs/heads/main' } },
          subject: 'repo:octo-org/deploy:ref:refs/heads/main',
          jti: `jti-${Math.random()}`,
          expiresAt: new Date(now.getTime() + lifetimeSeconds * 1000),
        },
      };
    },
  };
}

class MemorySeen implements SeenOidcTokens {
  readonly keys = new Set<string>();
  async firstSight(key: string): Promise<boolean> {
    if (this.keys.has(key)) return false;
    this.keys.add(key);
    return true;
  }
}

function setup(machines: MachinePolicy[], lifetimeSeconds: number) {
  const { ctx, clock } = testServiceContext(db, { ...testPolicy(), machines });
  const trustedSeen: Array<ReadonlyMap<string, readonly string[]>> = [];
  const exchangeCtx = { ...ctx, verifier: acceptingVerifier(lifetimeSeconds, trustedSeen), seen: new MemorySeen() };
  return { ctx, clock, exchangeCtx, trustedSeen };
}

describe('exchanging an OIDC token', () => {
  it('issues a token for at most an hour, and never beyond the OIDC token', async () => {
    const { exchangeCtx, clock, trustedSeen } = setup([machine('deploy-pipeline', RULES), machine('token-bot', { type: 'token' })], 2 * 60 * 60);
    const long = await exchangeOidcToken(exchangeCtx, { jwt: 'x', ip: '192.0.2.1' });
    expect(long).toMatchObject({ ok: true, machineId: 'deploy-pipeline' });
    expect(long.ok && long.expiresAt.getTime() - clock.now().getTime()).toBe(60 * 60 * 1000);
    // Only the issuers and audiences of OIDC machines are trusted.
    expect([...trustedSeen[0]!]).toEqual([[ISSUER, ['https://latch.test']]]);

    exchangeCtx.verifier = acceptingVerifier(5 * 60);
    const short = await exchangeOidcToken(exchangeCtx, { jwt: 'x', ip: '192.0.2.1' });
    expect(short.ok && short.expiresAt.getTime() - clock.now().getTime()).toBe(5 * 60 * 1000);
  });

  it('refuses a token that fits two machines, naming them in the audit event, and issues nothing', async () => {
    const { exchangeCtx } = setup([machine('deploy-pipeline', RULES), machine('deploy-copy', { ...RULES, claims: { repository: ['octo-org/*'] } })], 300);
    const exchanged = await exchangeOidcToken(exchangeCtx, { jwt: 'x', ip: '192.0.2.1' });
    expect(exchanged).toMatchObject({ ok: false, refusal: 'several_machines', status: 403 });
    expect(await db.machineToken.count()).toBe(0);
    const audited = await db.auditEvent.findMany({ where: { action: 'api.refused' }, orderBy: { seq: 'desc' }, take: 1 });
    expect(audited[0]!.data).toMatchObject({ code: 'oidc_several_machines', machines: ['deploy-pipeline', 'deploy-copy'], ip: '192.0.2.1', subject: 'repo:octo-org/deploy:ref:refs/heads/main' });
  });

  it('accepts an exchanged token only while its machine authenticates with OIDC and its rules in force accept the claims, and an operator token only while it uses tokens', async () => {
    const { ctx, exchangeCtx } = setup([machine('deploy-pipeline', RULES), machine('token-bot', { type: 'token' })], 300);
    const exchanged = await exchangeOidcToken(exchangeCtx, { jwt: 'x', ip: '192.0.2.1' });
    if (!exchanged.ok) throw new Error(exchanged.message);
    const made = await createMachineToken(ctx, { machineId: 'token-bot', expiresInSeconds: 3600, actor: 'cli:test' });
    if (!made.ok) throw new Error(made.refusal.message);
    expect(await authenticateMachine(ctx, `Bearer ${exchanged.token}`)).toMatchObject({ ok: true, requesterId: 'machine:deploy-pipeline' });
    expect(await authenticateMachine(ctx, `Bearer ${made.token}`)).toMatchObject({ ok: true, requesterId: 'machine:token-bot' });

    // Rules narrowed since the exchange apply at the next call; widened again, the token works again.
    const narrowed = { ...RULES, claims: { repository: ['octo-org/deploy'], ref: ['refs/tags/v*'] } };
    ctx.policyNow = { ...ctx.policyNow, machines: [machine('deploy-pipeline', narrowed), machine('token-bot', { type: 'token' })] };
    expect(await authenticateMachine(ctx, `Bearer ${exchanged.token}`)).toMatchObject({ ok: false, rejection: 'claims_no_longer_match' });
    ctx.policyNow = { ...ctx.policyNow, machines: [machine('deploy-pipeline', { ...narrowed, claims: { ...narrowed.claims, ref: ['refs/heads/main'] } }), machine('token-bot', { type: 'token' })] };
    expect(await authenticateMachine(ctx, `Bearer ${exchanged.token}`)).toMatchObject({ ok: true });

    // The policy swaps how the two machines authenticate: neither token speaks for its machine any more.
    ctx.policyNow = { ...ctx.policyNow, machines: [machine('deploy-pipeline', { type: 'token' }), machine('token-bot', { ...RULES, claims: { repository: ['octo-org/bot'] } })] };
    expect(await authenticateMachine(ctx, `Bearer ${exchanged.token}`)).toMatchObject({ ok: false, rejection: 'machine_unknown' });
    expect(await authenticateMachine(ctx, `Bearer ${made.token}`)).toMatchObject({ ok: false, rejection: 'machine_unknown' });
  });
});
