import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildAwsIdentityCenterProvider, type AwsIdentityCenterDeps } from '../../../src/providers/aws-identity-center/aws-identity-center-provider.ts';
import { awsIdentityCenterProvider } from '../../../src/providers/aws-identity-center/definition.ts';
import type { AccessProvider, ProviderGrant } from '../../../src/providers/provider.ts';
import { FakeAwsIdentityCenter } from '../../helpers/fake-aws-identity-center.ts';

const ACCOUNT = '444455556666';
const ENV = { AWS_ACCESS_KEY_ID: 'AKIAFAKEPROVIDER0001', AWS_SECRET_ACCESS_KEY: 'provider-test-secret' };

describe('aws-identity-center provider against the fake SSO Admin and Identity Store', () => {
  let aws: FakeAwsIdentityCenter;
  let admin: string;
  let aliceId: string;
  let carolId: string;
  const providers: AccessProvider[] = [];

  const settings = (extra: Record<string, unknown> = {}) => ({
    region: 'eu-west-1',
    instanceArn: aws.instanceArn,
    identityStoreId: aws.identityStoreId,
    roles: { admin: { accountId: ACCOUNT, permissionSetArn: admin } },
    endpoint: aws.url,
    ...extra,
  });
  const build = (extra: Record<string, unknown> = {}, deps: AwsIdentityCenterDeps = {}): AccessProvider => {
    const built = buildAwsIdentityCenterProvider(settings(extra), ENV, { pollIntervalMs: 1, ...deps });
    if (!built.ok) throw new Error(built.problems.join('; '));
    providers.push(built.provider);
    return built.provider;
  };
  const grantOf = (principal: string, role = 'admin'): ProviderGrant => ({
    grantId: randomUUID(),
    requestId: randomUUID(),
    resourceId: 'aws-prod',
    role,
    principal,
    expiresAt: new Date(Date.now() + 3_600_000),
  });

  beforeAll(async () => {
    aws = await FakeAwsIdentityCenter.start();
    aws.addAccount(ACCOUNT);
    admin = aws.addPermissionSet('provideradmin');
    aliceId = aws.addUser('alice', 'alice@example.com');
    carolId = aws.addUser('carol.w', 'carol.w@corp.example');
  });
  afterEach(() => {
    aws.throttle(0);
    aws.progressPolls = 1;
    aws.listLag = 0;
  });
  afterAll(async () => {
    await Promise.all(providers.map((provider) => provider.close?.()));
    await aws.close();
  });

  it('finds the user by userName, waits through IN_PROGRESS, and signs every request with SigV4', async () => {
    const provider = build();
    aws.progressPolls = 3;
    const grant = grantOf('alice');
    aws.calls.length = 0;
    expect(await provider.grant(grant)).toEqual({ ok: true, value: undefined });
    expect(aws.hasAssignment(ACCOUNT, admin, aliceId)).toBe(true);
    expect(aws.calls.filter((call) => call === 'SWBExternalService.DescribeAccountAssignmentCreationStatus')).toHaveLength(3);
    expect(aws.calls).toContain('AWSIdentityStore.GetUserId');
    expect(await provider.revoke(grant)).toEqual({ ok: true, value: undefined });
    expect(aws.hasAssignment(ACCOUNT, admin, aliceId)).toBe(false);
  });

  it('rides out a little throttling (the SDK retries it) and gives a transient failure for a lot, creating nothing', async () => {
    const provider = build();
    aws.throttle(2);
    const grant = grantOf('alice');
    expect((await provider.grant(grant)).ok).toBe(true);
    expect(aws.hasAssignment(ACCOUNT, admin, aliceId)).toBe(true);
    await provider.revoke(grant);

    aws.throttle(100);
    const throttled = await provider.grant(grantOf('alice'));
    expect(throttled).toEqual({ ok: false, failure: { kind: 'transient', message: expect.stringContaining('ThrottlingException') } });
    aws.throttle(0);
    expect(aws.hasAssignment(ACCOUNT, admin, aliceId)).toBe(false);
  });

  it('fails permanently, quoting AWS’s reason, when the creation status ends FAILED', async () => {
    const provider = build();
    aws.failNextOperation('Received a 404 status error: the permission set is not provisioned');
    const result = await provider.grant(grantOf('alice'));
    expect(result).toEqual({ ok: false, failure: { kind: 'permanent', message: expect.stringContaining('FAILED: Received a 404 status error') } });
    expect(aws.hasAssignment(ACCOUNT, admin, aliceId)).toBe(false);
  });

  it('gives a transient failure while another change of the assignment runs, or one stays IN_PROGRESS too long, then succeeds on retry', async () => {
    const provider = build({}, { maxWaitMs: 5 });
    const grant = grantOf('alice');
    aws.conflictNextOperation();
    expect(await provider.grant(grant)).toEqual({ ok: false, failure: { kind: 'transient', message: expect.stringContaining('ConflictException') } });
    aws.progressPolls = 1_000;
    expect(await provider.grant(grant)).toEqual({ ok: false, failure: { kind: 'transient', message: expect.stringContaining('still in progress') } });
    aws.progressPolls = 1;
    expect(await provider.grant(grant)).toEqual({ ok: true, value: undefined });
    expect(aws.hasAssignment(ACCOUNT, admin, aliceId)).toBe(true);
    expect(await provider.revoke(grant)).toEqual({ ok: true, value: undefined });
  });

  it('verifies a revocation against the listing: a lagging listing is waited for, one that never catches up is a transient failure', async () => {
    const provider = build({}, { visibilityChecks: 4 });
    const grant = grantOf('alice');
    await provider.grant(grant);
    aws.listLag = 2;
    expect(await provider.revoke(grant)).toEqual({ ok: true, value: undefined });
    expect(aws.hasAssignment(ACCOUNT, admin, aliceId)).toBe(false);

    aws.listLag = 0;
    await provider.grant(grant);
    aws.listLag = 10;
    const lagging = await provider.revoke(grant);
    expect(lagging).toEqual({ ok: false, failure: { kind: 'transient', message: expect.stringContaining('still lists the assignment') } });
  });

  it('takes a user from settings.users, matches by email when told to, and lists holders by those names', async () => {
    const provider = build({ matchUserBy: 'email', users: { 'carol@example.com': carolId } });
    const carol = grantOf('carol@example.com');
    const alice = grantOf('alice@example.com');
    await provider.grant(carol);
    await provider.grant(alice);
    const listed = await provider.list!('admin');
    expect(listed.ok && [...listed.value].sort()).toEqual(['alice@example.com', 'carol@example.com']);
    await provider.revoke(carol);
    await provider.revoke(alice);
    expect(await provider.list!('admin')).toEqual({ ok: true, value: [] });
  });

  it('refuses a principal the identity store does not have, permanently, and will not call a revoke for it done', async () => {
    const provider = build();
    const nobody = grantOf('nobody@example.com');
    const result = await provider.grant(nobody);
    expect(result).toEqual({ ok: false, failure: { kind: 'permanent', message: expect.stringContaining('settings.users') } });
    // It may be a user renamed since the grant, still assigned under its UserId: a person must look.
    expect(await provider.revoke(nobody)).toEqual({ ok: false, failure: { kind: 'permanent', message: expect.stringContaining('renamed or deleted') } });
  });

  it('reports how long sessions outlive a revocation: the permission set\'s SessionDuration, asked of DescribePermissionSet', async () => {
    const short = aws.addPermissionSet('providershort', 'PT1H30M');
    const long = aws.addPermissionSet('providerlong00', 'PT12H');
    const provider = build({ roles: { admin: { accountId: ACCOUNT, permissionSetArn: admin }, short: { accountId: ACCOUNT, permissionSetArn: short }, long: { accountId: ACCOUNT, permissionSetArn: long } } });
    expect(await provider.effectiveEndLag!('admin')).toEqual({ ok: true, value: 3600 });
    expect(await provider.effectiveEndLag!('short')).toEqual({ ok: true, value: 5400 });
    expect(await provider.effectiveEndLag!('long')).toEqual({ ok: true, value: 12 * 3600 });
    expect(await provider.effectiveEndLag!('nobody-has-it')).toMatchObject({ ok: false, failure: { kind: 'permanent' } });
    // A permission set AWS no longer has: its assignment cannot outlive anything, but Latch cannot say.
    const gone = build({ roles: { admin: { accountId: ACCOUNT, permissionSetArn: 'arn:aws:sso:::permissionSet/ssoins-1111222233334444/ps-gone000000000000' } } });
    expect(await gone.effectiveEndLag!('admin')).toMatchObject({ ok: false, failure: { kind: 'permanent' } });
  });

  it('names the same permission set in the same account as one access target', () => {
    const provider = build({ roles: { admin: { accountId: ACCOUNT, permissionSetArn: admin }, breakglass: { accountId: ACCOUNT, permissionSetArn: admin } } });
    expect(provider.accessTarget!('admin')).toBe(provider.accessTarget!('breakglass'));
    expect(provider.accessTarget!('unknown')).toBeUndefined();
  });

  it('names a bad setting without quoting it', () => {
    const built = awsIdentityCenterProvider.create(
      { ...settings(), instanceArn: 'AKIASECRETLOOKING', roles: { admin: { accountId: '12', permissionSetArn: admin } } },
      ENV,
    );
    expect(built.ok).toBe(false);
    const problems = built.ok ? [] : built.problems;
    expect(problems).toEqual(
      expect.arrayContaining([expect.stringMatching(/^settings\.instanceArn: /), expect.stringMatching(/^settings\.roles\.admin\.accountId: /)]),
    );
    expect(problems.join('\n')).not.toContain('AKIASECRETLOOKING');
  });
});
