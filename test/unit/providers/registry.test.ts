import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createProviders, PROVIDER_DEFINITIONS, providerDefinition, providerGuard } from '../../../src/providers/registry.ts';
import { testPolicy, testResource } from '../../helpers/test-policy.ts';

const postgres = (connectionStringEnv: string) => ({ type: 'postgres', settings: { connectionStringEnv } });
const webhook = { type: 'webhook', settings: { url: 'https://hooks.example.com/latch', secretEnv: 'HOOK_SECRET' } };
const usergroup = { type: 'slack-usergroup', settings: { usergroup: 'S0ONCALL' } };
// Nothing here takes a lock: building a provider only keeps it.
const services = { locks: { withLock: <T>(_key: string, work: () => Promise<T>) => work() } };

describe('provider registry', () => {
  it('lists one definition per provider type, each in a folder of its name with its README', () => {
    const types = PROVIDER_DEFINITIONS.map((definition) => definition.type);
    expect(types).toEqual(['postgres', 'mysql', 'slack-usergroup', 'webhook', 'aws-identity-center', 'github-team']);
    for (const type of types) {
      const folder = fileURLToPath(new URL(`../../../src/providers/${type}/`, import.meta.url));
      expect(existsSync(`${folder}definition.ts`), `src/providers/${type}/definition.ts`).toBe(true);
      expect(existsSync(`${folder}README.md`), `src/providers/${type}/README.md`).toBe(true);
    }
    expect(providerDefinition('ftp')).toBeUndefined();
  });

  it('gives a guard only to the types whose definition reads one', () => {
    const policy = testPolicy([
      testResource({ id: 'db', provider: postgres('DB_URL'), permanentHolders: ['app_owner'] }),
      testResource({ id: 'hook', provider: webhook, permanentHolders: ['ops'] }),
    ]);
    expect(providerGuard(policy, 'postgres')).toEqual({ permanentHolders: ['app_owner'], peers: [{ settings: { connectionStringEnv: 'DB_URL' }, roles: ['read', 'write'] }] });
    expect(providerGuard(policy, 'webhook')).toEqual({ permanentHolders: [], peers: [] });
  });

  it('builds one provider per resource, of the type its policy names', async () => {
    const policy = testPolicy([
      testResource({ id: 'db', provider: postgres('DB_URL') }),
      testResource({ id: 'hook', provider: webhook }),
      testResource({ id: 'group', provider: usergroup }),
    ]);
    const env = { DB_URL: 'postgresql://grantor@127.0.0.1:1/app', HOOK_SECRET: 's3cret-s3cret', SLACK_BOT_TOKEN: 'xoxb-1-2-3' };
    const result = await createProviders(policy, env, services);
    if (!result.ok) throw new Error(result.problems.join('\n'));
    expect([...result.providers].map(([id, provider]) => [id, provider.type])).toEqual([
      ['db', 'postgres'],
      ['hook', 'webhook'],
      ['group', 'slack-usergroup'],
    ]);
    await Promise.all([...result.providers.values()].map((provider) => provider.close?.()));
  });

  it('reports every missing secret under the path of the resource that needs it', async () => {
    const policy = testPolicy([
      testResource({ id: 'db', provider: postgres('PROD_DB_ADMIN_URL') }),
      testResource({ id: 'hook', provider: webhook }),
      testResource({ id: 'group', provider: usergroup }),
    ]);
    const result = await createProviders(policy, {}, services);
    expect(result.ok).toBe(false);
    const problems = result.ok ? [] : result.problems;
    expect(problems).toContain('resources[0].provider.settings.connectionStringEnv: PROD_DB_ADMIN_URL is not set');
    expect(problems.some((p) => p.startsWith('resources[1].provider.settings.secretEnv: HOOK_SECRET'))).toBe(true);
    expect(problems.some((p) => p.startsWith('resources[2].provider') && p.includes('SLACK_BOT_TOKEN'))).toBe(true);
  });
});
