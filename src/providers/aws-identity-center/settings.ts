import { z } from 'zod';
import { parseProviderSettings, type SettingsResult } from '../settings-problems.ts';

/**
 * The `settings` block of a resource whose provider is `aws-identity-center`, as written in the
 * policy file. It holds no secret: the grantor's credentials come from the standard AWS chain
 * (environment, shared config, the instance or task role), never from the policy file.
 */

// Formats from the SSO Admin and Identity Store API references (InstanceArn, PermissionSetArn,
// AccountId, IdentityStoreId), so a typo is named at `latch policy check`, not at the first grant.
const INSTANCE_ARN = /^arn:(aws|aws-us-gov|aws-cn|aws-iso|aws-iso-b):sso:::instance\/(sso)?ins-[a-zA-Z0-9-.]{16}$/;
const PERMISSION_SET_ARN = /^arn:(aws|aws-us-gov|aws-cn|aws-iso|aws-iso-b):sso:::permissionSet\/(sso)?ins-[a-zA-Z0-9-.]{16}\/ps-[a-zA-Z0-9-./]{16}$/;
const ACCOUNT_ID = /^\d{12}$/;
const IDENTITY_STORE_ID = /^(d-[0-9a-f]{10}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;

/** What one policy role gives: a permission set in one account. */
export const accountAssignmentSchema = z.strictObject({
  accountId: z.string({ error: 'must be the 12-digit AWS account id' }).regex(ACCOUNT_ID, { error: 'must be the 12-digit AWS account id' }),
  permissionSetArn: z
    .string({ error: 'must be the ARN of a permission set' })
    .regex(PERMISSION_SET_ARN, { error: 'must be the ARN of a permission set (arn:aws:sso:::permissionSet/ssoins-…/ps-…)' }),
});

export type AccountAssignmentTarget = z.infer<typeof accountAssignmentSchema>;

export const USER_MATCHES = ['userName', 'email'] as const;

export const awsIdentityCenterSettingsSchema = z.strictObject({
  /** The Identity Center home region, e.g. eu-west-1. */
  region: z.string({ error: 'must be the Identity Center home region, e.g. eu-west-1' }).regex(REGION, { error: 'must be an AWS region, e.g. eu-west-1' }),
  instanceArn: z
    .string({ error: 'must be the ARN of the Identity Center instance' })
    .regex(INSTANCE_ARN, { error: 'must be the ARN of the Identity Center instance (arn:aws:sso:::instance/ssoins-…)' }),
  identityStoreId: z
    .string({ error: 'must be the id of the identity store, e.g. d-1234567890' })
    .regex(IDENTITY_STORE_ID, { error: 'must be the id of the identity store, e.g. d-1234567890' }),
  /** Policy role id → the account and permission set it gives. A role not listed cannot be granted. */
  roles: z.record(z.string(), accountAssignmentSchema, { error: 'must map each role id to an accountId and a permissionSetArn' }),
  /** Which attribute of the identity store user the principal (the Slack email) is: its userName or its email. */
  matchUserBy: z.enum(USER_MATCHES, { error: 'must be "userName" or "email": the identity store attribute the Slack email is matched with' }).default('userName'),
  /** Principal → identity store UserId, for people whose userName and email differ from their Slack email. Looked up first. */
  users: z.record(z.string(), z.string({ error: 'must be an identity store UserId' }).min(1, { error: 'is empty' })).optional(),
  /** Another endpoint for both services (a VPC endpoint, or a test's fake); default: AWS's own for the region. */
  endpoint: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
});

export type AwsIdentityCenterSettings = z.infer<typeof awsIdentityCenterSettingsSchema>;

/** Settings as one-line problems that name the setting, never quoting a value. */
export function parseAwsIdentityCenterSettings(settings: Record<string, unknown>): SettingsResult<AwsIdentityCenterSettings> {
  return parseProviderSettings(awsIdentityCenterSettingsSchema, settings, 'aws-identity-center');
}
