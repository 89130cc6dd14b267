import type { ProviderDefinition } from '../provider.ts';
import { createAwsIdentityCenterProvider } from './aws-identity-center-provider.ts';
import { awsIdentityCenterSettingsSchema } from './settings.ts';

/** An AWS IAM Identity Center account assignment: a permission set in one account (README.md beside this file). */
export const awsIdentityCenterProvider: ProviderDefinition = {
  type: 'aws-identity-center',
  settings: awsIdentityCenterSettingsSchema,
  // Identity store users are usually named by their email (userName or the email attribute).
  identityDefaults: { from: 'email', template: '{email}' },
  capabilities: { listsHolders: true, checksPrincipal: false, namesAccessTarget: true, endsSessions: false, readsGuard: false, issuesCredentials: false, verifiesRevocation: true, reportsEffectiveEndLag: true, listsScopedAccess: false },
  targetName: 'AWS IAM Identity Center',
  create: createAwsIdentityCenterProvider,
};
