import type { ProviderDefinition } from '../provider.ts';
import { createPostgresProvider } from './postgres-provider.ts';
import { postgresSettingsSchema } from './settings.ts';

/** Temporary membership in a PostgreSQL role (README.md beside this file). */
export const postgresProvider: ProviderDefinition = {
  type: 'postgres',
  settings: postgresSettingsSchema,
  // A database user is usually the email's local part; the policy file then asks for the domains.
  identityDefaults: { from: 'email', template: '{localpart}' },
  capabilities: { listsHolders: true, checksPrincipal: true, namesAccessTarget: false, endsSessions: true, readsGuard: true },
  targetName: 'The database',
  create: createPostgresProvider,
};
