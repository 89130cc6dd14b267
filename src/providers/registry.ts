import type { ProviderType } from '../config/policy-file.ts';
import type { Policy, ProviderSettings } from '../domain/policy.ts';
import { createPostgresProvider } from './postgres/postgres-provider.ts';
import type { AccessProvider, ProviderFactory, ProviderGuard } from './provider.ts';
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
    const built = factory(resource.provider.settings, env, { ...services, guard: providerGuard(policy, resource.provider.type) });
    if (built.ok) providers.set(resource.id, built.provider);
    else problems.push(...built.problems.map((problem) => (problem.startsWith('settings.') ? `${at}.${problem}` : `${at}: ${problem}`)));
  });
  if (problems.length === 0) return { ok: true, providers };
  await Promise.all([...providers.values()].map((provider) => provider.close?.()));
  return { ok: false, problems };
}

/**
 * The provider types whose factories read a guard. Others get an empty one, so that a reload
 * changing some other resource of their type does not replace them (PolicySource compares guards).
 */
const GUARDED_TYPES: ReadonlySet<string> = new Set<ProviderType>(['postgres']);

/**
 * The accounts the providers of `type` must never change, from every resource they serve: a name
 * one resource grants, or keeps as a permanent holder, is nobody's personal account on another.
 */
export function providerGuard(policy: Policy, type: string): ProviderGuard {
  const served = GUARDED_TYPES.has(type) ? policy.resources.filter((resource) => resource.provider.type === type) : [];
  return {
    permanentHolders: [...new Set(served.flatMap((resource) => resource.permanentHolders))],
    peers: served.map((resource) => ({ settings: resource.provider.settings, roles: resource.roles.map((role) => role.id) })),
  };
}

export type ProviderResultOne = { ok: true; provider: AccessProvider } | { ok: false; problems: string[] };

/**
 * One provider from settings alone (a grant's recorded settings, for revoking access whose
 * resource left the policy). Secrets still come from the environment, as at start-up.
 */
export function createProvider(
  settings: ProviderSettings,
  env: Record<string, string | undefined>,
  services: ProviderServices & { guard?: ProviderGuard },
): ProviderResultOne {
  const factory = PROVIDER_FACTORIES[settings.type as ProviderType];
  if (!factory) return { ok: false, problems: [`there is no provider type "${settings.type}"`] };
  return factory(settings.settings, env, services);
}
