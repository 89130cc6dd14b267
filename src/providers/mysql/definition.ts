import type { ProviderDefinition } from '../provider.ts';
import { createMysqlProvider } from './mysql-provider.ts';
import { mysqlSettingsSchema } from './settings.ts';

/** Temporary holding of a MySQL 8 or MariaDB role, made the account's default role (README.md beside this file). */
export const mysqlProvider: ProviderDefinition = {
  type: 'mysql',
  settings: mysqlSettingsSchema,
  // A database user is usually the email's local part; the policy file then asks for the domains.
  identityDefaults: { from: 'email', template: '{localpart}' },
  capabilities: { listsHolders: true, checksPrincipal: true, namesAccessTarget: false, endsSessions: true, readsGuard: true, issuesCredentials: false, verifiesRevocation: true, reportsEffectiveEndLag: false, listsScopedAccess: false },
  targetName: 'The database',
  create: createMysqlProvider,
};
