import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const REPOSITORY = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * Run in a process of its own, as `latch web` runs: Node's module cache is the process's, so only
 * a fresh process shows what importing the registry and building providers loads. It prints the
 * SDK packages in the cache after each step.
 */
const PROBE = `
import { createRequire } from 'node:module';
const require = createRequire(process.cwd() + '/');
const sdks = () => [...new Set(Object.keys(require.cache)
  .map((path) => /node_modules\\/(@aws-sdk\\/[^/]+|mysql2)\\//.exec(path)?.[1])
  .filter(Boolean))].sort();
const steps = {};
const { createProviders, providerDefinition } = await import('./src/providers/registry.ts');
const services = { locks: { withLock: (_key, work) => work() } };
const resource = (id, provider) => ({ id, provider, roles: [{ id: 'read' }], permanentHolders: [] });
const built = await createProviders(
  { resources: [resource('hook', { type: 'webhook', settings: { url: 'https://hooks.example.com/latch', secretEnv: 'HOOK_SECRET' } })] },
  { HOOK_SECRET: 's3cret-s3cret' },
  services,
);
if (!built.ok) throw new Error(built.problems.join('; '));
steps.webhookPolicy = sdks();
const aws = providerDefinition('aws-identity-center').create(
  { region: 'eu-west-1', instanceArn: 'arn:aws:sso:::instance/ssoins-1111222233334444', identityStoreId: 'd-1234567890',
    roles: { read: { accountId: '444455556666', permissionSetArn: 'arn:aws:sso:::permissionSet/ssoins-1111222233334444/ps-1111222233334444' } } },
  {},
  services,
);
if (!aws.ok) throw new Error(aws.problems.join('; '));
steps.awsBuilt = sdks();
process.stdout.write(JSON.stringify(steps));
`;

describe('provider SDKs', () => {
  // Each SDK is several MiB of resident memory that a Latch whose policy never uses it should not
  // hold (BENCHMARKS.md): `latch web` under the bench's webhook policy loads none of them.
  it('are loaded only when a provider of their type is built, not with the registry', () => {
    const output = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', PROBE], { cwd: REPOSITORY, encoding: 'utf8', env: { PATH: process.env.PATH } });
    const steps = JSON.parse(output) as { webhookPolicy: string[]; awsBuilt: string[] };
    expect(steps.webhookPolicy).toEqual([]);
    expect(steps.awsBuilt).toEqual(expect.arrayContaining(['@aws-sdk/client-identitystore', '@aws-sdk/client-sso-admin']));
    expect(steps.awsBuilt).not.toContain('mysql2');
  });
});
