import type { ProviderDefinition } from '../provider.ts';
import { slackUsergroupSettingsSchema } from './settings.ts';
import { createSlackUsergroupProvider } from './slack-usergroup-provider.ts';

/** Membership of a Slack user group (README.md beside this file). */
export const slackUsergroupProvider: ProviderDefinition = {
  type: 'slack-usergroup',
  settings: slackUsergroupSettingsSchema,
  // A user group holds Slack user ids.
  identityDefaults: { from: 'slack-user-id', template: '{email}' },
  capabilities: { listsHolders: true, checksPrincipal: true, namesAccessTarget: true, endsSessions: false, readsGuard: false, issuesCredentials: false, verifiesRevocation: true, reportsEffectiveEndLag: false, listsScopedAccess: false },
  targetName: 'Slack',
  create: createSlackUsergroupProvider,
};
