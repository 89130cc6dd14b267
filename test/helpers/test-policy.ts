import { DEFAULT_AUTO_APPROVAL_LIMITS, DEFAULT_REQUEST_LIMITS, type AutoApprovalRule, type Policy, type ResourcePolicy } from '../../src/domain/policy.ts';

/** A resource with sensible defaults for tests; override what the test is about. */
export function testResource(overrides: Partial<ResourcePolicy> = {}): ResourcePolicy {
  return {
    id: 'prod-db',
    name: 'Production database',
    description: 'The production PostgreSQL',
    provider: { type: 'postgres', settings: {} },
    identity: { map: {}, from: 'slack-user-id', template: '{email}' },
    roles: [
      { id: 'read', description: 'SELECT only', maxDurationSeconds: 8 * 3600 },
      { id: 'write', description: 'INSERT, UPDATE, DELETE', maxDurationSeconds: 3600 },
    ],
    maxDurationSeconds: 8 * 3600,
    requesters: { everyone: true },
    approvers: { users: ['U0APPROVER1', 'U0APPROVER2'], groups: [], required: 1, oneFrom: [] },
    approvalChannel: 'C0APPROVALS',
    pendingTimeoutSeconds: 24 * 3600,
    ticketPattern: null,
    minReasonLength: 1,
    autoApprove: [],
    breakGlass: null,
    reminders: null,
    defaultDurationSeconds: null,
    permanentHolders: [],
    ...overrides,
  };
}

export const SECURITY_CHANNEL = 'C0SECURITY';
export const SECURITY_ADMIN = 'U0SECADMIN';

export function testPolicy(resources: ResourcePolicy[] = [testResource()]): Policy {
  return { version: 'test-policy-v1', security: { channel: SECURITY_CHANNEL, admins: { users: [SECURITY_ADMIN], groups: [] } }, limits: DEFAULT_REQUEST_LIMITS, digests: [], resources, machines: [] };
}

/** An auto-approval rule for everyone with the default limits; override what the test is about. */
export function testAutoApprovalRule(overrides: Partial<AutoApprovalRule> = {}): AutoApprovalRule {
  return { name: 'auto', roles: null, maxDurationSeconds: null, requesters: { everyone: true }, schedule: null, limits: { ...DEFAULT_AUTO_APPROVAL_LIMITS }, ...overrides };
}

/**
 * A policy file with one resource, `prod-db` (PostgreSQL, its admin URL in TARGET_DB_URL), as the
 * tests that start a `latch` process write it.
 */
export const PROD_DB_POLICY_YAML = `
resources:
  - id: prod-db
    name: Production database
    provider: { type: postgres, settings: { connectionStringEnv: TARGET_DB_URL } }
    identity: { domains: [example.com] }
    roles: [read]
    maxDuration: 4h
    approvers: { users: [U0APPROVER1] }
    approvalChannel: C0APPROVALS
`;
