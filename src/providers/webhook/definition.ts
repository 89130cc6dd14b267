import type { ProviderDefinition } from '../provider.ts';
import { webhookSettingsSchema } from './settings.ts';
import { createWebhookProvider } from './webhook-provider.ts';

/** Signed POSTs to a receiver someone else runs (README.md beside this file is its protocol). */
export const webhookProvider: ProviderDefinition = {
  type: 'webhook',
  settings: webhookSettingsSchema,
  // The receiver gets the email whole: it knows best how its target names people.
  identityDefaults: { from: 'email', template: '{email}' },
  capabilities: { listsHolders: false, checksPrincipal: false, namesAccessTarget: false, endsSessions: false, readsGuard: false, issuesCredentials: false, verifiesRevocation: true, reportsEffectiveEndLag: false, listsScopedAccess: false },
  targetName: 'The access webhook',
  create: createWebhookProvider,
};
