import type { ProviderDefinition } from '../provider.ts';
import { createGithubTeamProvider } from './github-team-provider.ts';
import { githubTeamSettingsSchema } from './settings.ts';

/** Membership of a GitHub team (README.md beside this file). */
export const githubTeamProvider: ProviderDefinition = {
  type: 'github-team',
  settings: githubTeamSettingsSchema,
  // GitHub logins do not follow emails: each person's login is mapped in the policy (identity.map).
  identityDefaults: { from: 'map-only', template: '{localpart}' },
  capabilities: { listsHolders: true, checksPrincipal: false, namesAccessTarget: false, endsSessions: false, readsGuard: false, issuesCredentials: false, verifiesRevocation: true, reportsEffectiveEndLag: false, listsScopedAccess: false },
  targetName: 'GitHub',
  create: createGithubTeamProvider,
};
