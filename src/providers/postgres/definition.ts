import type { ProviderDefinition } from '../provider.ts';
import { dynamicLoginName } from './dynamic-login.ts';
import { createPostgresProvider } from './postgres-provider.ts';
import { parsePostgresSettings, postgresSettingsSchema } from './settings.ts';

function createsLogins(settings: Record<string, unknown>): boolean {
  const parsed = parsePostgresSettings(settings);
  return parsed.ok && parsed.settings.credentials === 'dynamic';
}

/** Temporary membership in a PostgreSQL role, or a login of Latch's own (README.md beside this file). */
export const postgresProvider: ProviderDefinition = {
  type: 'postgres',
  settings: postgresSettingsSchema,
  // A database user is usually the email's local part; the policy file then asks for the domains.
  identityDefaults: { from: 'email', template: '{localpart}' },
  capabilities: { listsHolders: true, checksPrincipal: true, namesAccessTarget: false, endsSessions: true, readsGuard: true, issuesCredentials: true, verifiesRevocation: true, reportsEffectiveEndLag: false, listsScopedAccess: true },
  loginFor: (settings, _role, requestId) => (createsLogins(settings) ? dynamicLoginName(requestId) : undefined),
  createsLogins,
  targetName: 'The database',
  create: createPostgresProvider,
};
