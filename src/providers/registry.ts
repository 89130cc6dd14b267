import type { Policy, ProviderSettings } from '../domain/policy.ts';
import { tracedProvider } from '../observability/provider-spans.ts';
import { awsIdentityCenterProvider } from './aws-identity-center/definition.ts';
import { githubTeamProvider } from './github-team/definition.ts';
import { mysqlProvider } from './mysql/definition.ts';
import { postgresProvider } from './postgres/definition.ts';
import type { AccessProvider, ProviderDefinition, ProviderGuard } from './provider.ts';
import { slackUsergroupProvider } from './slack-usergroup/definition.ts';
import type { ProviderServices } from './target-lock.ts';
import { webhookProvider } from './webhook/definition.ts';

/**
 * Every provider type Latch has, one line each. The policy file accepts exactly these types, with
 * the settings each one's schema allows; the contract suite runs every one (README.md).
 */
export const PROVIDER_DEFINITIONS: readonly ProviderDefinition[] = [
  postgresProvider,
  mysqlProvider,
  slackUsergroupProvider,
  webhookProvider,
  awsIdentityCenterProvider,
  githubTeamProvider,
];

/** The definition of a provider type, or undefined for a type Latch does not have. */
export function providerDefinition(type: string): ProviderDefinition | undefined {
  return PROVIDER_DEFINITIONS.find((definition) => definition.type === type);
}

export type ProvidersResult = { ok: true; providers: Map<string, AccessProvider> } | { ok: false; problems: string[] };

/**
 * One provider per resource of the policy, each built from its settings and the environment.
 * Every problem of every resource is reported, each under the resource's path in the policy file
 * (`resources[0].provider.settings.connectionStringEnv: PROD_DB_ADMIN_URL is not set`), so one
 * start-up names all that is missing. Providers built before a problem are closed again. Every
 * provider built here is traced (observability/provider-spans.ts): its calls to the target are spans.
 */
export async function createProviders(policy: Policy, env: Record<string, string | undefined>, services: ProviderServices): Promise<ProvidersResult> {
  const providers = new Map<string, AccessProvider>();
  const problems: string[] = [];
  policy.resources.forEach((resource, index) => {
    const at = `resources[${index}].provider`;
    const definition = providerDefinition(resource.provider.type);
    if (!definition) {
      problems.push(`${at}.type: there is no provider type "${resource.provider.type}"`);
      return;
    }
    const built = definition.create(resource.provider.settings, env, { ...services, guard: providerGuard(policy, resource.provider.type) });
    if (built.ok) providers.set(resource.id, tracedProvider(built.provider));
    else problems.push(...built.problems.map((problem) => (problem.startsWith('settings.') ? `${at}.${problem}` : `${at}: ${problem}`)));
  });
  if (problems.length === 0) return { ok: true, providers };
  await Promise.all([...providers.values()].map((provider) => provider.close?.()));
  return { ok: false, problems };
}

/**
 * The accounts the providers of `type` must never change, from every resource they serve: a name
 * one resource grants, or keeps as a permanent holder, is nobody's personal account on another.
 * A type that does not read a guard gets an empty one, so that a reload changing some other
 * resource of its type does not replace its providers (PolicySource compares guards).
 */
export function providerGuard(policy: Policy, type: string): ProviderGuard {
  const served = providerDefinition(type)?.capabilities.readsGuard ? policy.resources.filter((resource) => resource.provider.type === type) : [];
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
  const definition = providerDefinition(settings.type);
  if (!definition) return { ok: false, problems: [`there is no provider type "${settings.type}"`] };
  const built = definition.create(settings.settings, env, services);
  return built.ok ? { ok: true, provider: tracedProvider(built.provider) } : built;
}
