import type { ProviderType } from '../config/policy-file.ts';
import type { Policy, ProviderSettings } from '../domain/policy.ts';
import { createPostgresProvider } from './postgres/postgres-provider.ts';
import type { AccessProvider, ProviderFactory } from './provider.ts';
import type { ProviderServices } from './target-lock.ts';
import { createSlackUsergroupProvider } from './slack-usergroup/slack-usergroup-provider.ts';
import { createWebhookProvider } from './webhook/webhook-provider.ts';

/** Every provider type the policy file accepts, and how to build one (typed: none can be missing). */
export const PROVIDER_FACTORIES: Readonly<Record<ProviderType, ProviderFactory>> = {
  postgres: createPostgresProvider,
  'slack-usergroup': createSlackUsergroupProvider,
  webhook: createWebhookProvider,
};

export type ProvidersResult = { ok: true; providers: Map<string, AccessProvider> } | { ok: false; problems: string[] };

/**
 * One provider per resource of the policy, each built from its settings and the environment.
 * Every problem of every resource is reported, each under the resource's path in the policy file
 * (`resources[0].provider.settings.connectionStringEnv: PROD_DB_ADMIN_URL is not set`), so one
 * start-up names all that is missing. Providers built before a problem are closed again.
 */
export async function createProviders(policy: Policy, env: Record<string, string | undefined>, services: ProviderServices): Promise<ProvidersResult> {
  const providers = new Map<string, AccessProvider>();
  const problems: string[] = [];
  policy.resources.forEach((resource, index) => {
    const at = `resources[${index}].provider`;
    const factory = PROVIDER_FACTORIES[resource.provider.type as ProviderType];
    if (!factory) {
      problems.push(`${at}.type: there is no provider type "${resource.provider.type}"`);
      return;
    }
    const built = factory(resource.provider.settings, env, services);
    if (built.ok) providers.set(resource.id, built.provider);
    else problems.push(...built.problems.map((problem) => (problem.startsWith('settings.') ? `${at}.${problem}` : `${at}: ${problem}`)));
  });
  if (problems.length === 0) return { ok: true, providers };
  await Promise.all([...providers.values()].map((provider) => provider.close?.()));
  return { ok: false, problems };
}

export type ProviderResultOne = { ok: true; provider: AccessProvider } | { ok: false; problems: string[] };

/**
 * One provider from settings alone (a grant's recorded settings, for revoking access whose
 * resource left the policy). Secrets still come from the environment, as at start-up.
 */
export function createProvider(settings: ProviderSettings, env: Record<string, string | undefined>, services: ProviderServices): ProviderResultOne {
  const factory = PROVIDER_FACTORIES[settings.type as ProviderType];
  if (!factory) return { ok: false, problems: [`there is no provider type "${settings.type}"`] };
  return factory(settings.settings, env, services);
}
