import { stringify } from 'yaml';
import { APPROVALS_CHANNEL, DASHBOARD_EDITORS_GROUP, DEMO_EMAIL_DOMAIN, FIRST_APPROVER, REQUESTER, SECOND_APPROVER, SECURITY_CHANNEL, SECURITY_LEAD } from './demo-cast.ts';
import { DEMO_SCOPED_COLUMN } from './demo-databases.ts';
import type { DemoNames } from './demo-names.ts';

/** The environment variable the policy names for the grantor's connection string. */
export const ANALYTICS_DB_URL_ENV = 'DEMO_ANALYTICS_DB_URL';
/** The resource people ask for in the demo. */
export const ANALYTICS_RESOURCE = 'analytics-db';
/** The second resource: asked for with the first in one request, to show a card for several. */
export const DASHBOARD_RESOURCE = 'revenue-dashboard';
/** The third: one customer's orders, lent to support through row-level scopes. */
export const SUPPORT_RESOURCE = 'support-db';
export const DIGEST_NAME = 'security';

export interface DemoPolicyOptions {
  names: DemoNames;
  /** Cron schedule of the security digest; every five minutes by default, so one shows up soon. */
  digestSchedule?: string;
}

/**
 * The demo's policy: one PostgreSQL resource whose `read` role is a real role on the demo server,
 * two approvals needed, durations as short as a minute so expiry can be watched, break-glass for
 * the requester and the security lead (reviewed by the other, or an approver), a security channel
 * and a digest. Written as a policy file, so Latch loads and checks it as it would any other.
 */
export function demoPolicyYaml({ names, digestSchedule = '*/5 * * * *' }: DemoPolicyOptions): string {
  const policy = {
    security: {
      channel: SECURITY_CHANNEL.id,
      admins: { users: [SECURITY_LEAD.id] },
    },
    digests: [{ name: DIGEST_NAME, schedule: digestSchedule, timeZone: 'UTC', channel: SECURITY_CHANNEL.id }],
    resources: [
      {
        id: ANALYTICS_RESOURCE,
        name: 'Analytics database',
        description: `Read the revenue tables (PostgreSQL role ${names.readRole})`,
        provider: {
          type: 'postgres',
          settings: { connectionStringEnv: ANALYTICS_DB_URL_ENV, roles: { read: names.readRole } },
        },
        identity: { from: 'email', template: `{localpart}${names.suffix}`, domains: [DEMO_EMAIL_DOMAIN] },
        roles: [{ id: 'read', description: 'SELECT on the revenue tables' }],
        maxDuration: '1h',
        // Short enough to watch the grant end: the form suggests it, anyone may type 1m to 1h.
        defaultDuration: '2m',
        pendingTimeout: '1h',
        minReasonLength: 10,
        approvers: { users: [FIRST_APPROVER.id, SECOND_APPROVER.id], required: 2 },
        approvalChannel: APPROVALS_CHANNEL.id,
        breakGlass: {
          requesters: { users: [REQUESTER.id, SECURITY_LEAD.id] },
          maxDuration: '30m',
          reviewWithin: '1h',
          remindEvery: '15m',
        },
      },
      {
        id: DASHBOARD_RESOURCE,
        name: 'Revenue dashboard',
        description: `Edit the revenue dashboard (Slack user group @${DASHBOARD_EDITORS_GROUP.handle})`,
        provider: { type: 'slack-usergroup', settings: { usergroup: DASHBOARD_EDITORS_GROUP.id } },
        roles: [{ id: 'edit', description: 'Change the dashboard and its queries' }],
        maxDuration: '1h',
        defaultDuration: '2m',
        pendingTimeout: '1h',
        minReasonLength: 10,
        approvers: { users: [FIRST_APPROVER.id, SECOND_APPROVER.id], required: 1 },
        approvalChannel: APPROVALS_CHANNEL.id,
      },
      {
        id: SUPPORT_RESOURCE,
        name: 'Support: customer orders',
        description: `One customer's orders at a time, narrowed by row-level security (PostgreSQL role ${names.supportRole})`,
        provider: {
          type: 'postgres',
          settings: {
            connectionStringEnv: ANALYTICS_DB_URL_ENV,
            roles: { debug: names.supportRole },
            rowScopes: { [DEMO_SCOPED_COLUMN.scope]: [{ table: DEMO_SCOPED_COLUMN.table, column: DEMO_SCOPED_COLUMN.column }] },
          },
        },
        identity: { from: 'email', template: `{localpart}${names.suffix}`, domains: [DEMO_EMAIL_DOMAIN] },
        roles: [
          {
            id: 'debug',
            description: "Read one customer's orders",
            scopes: { [DEMO_SCOPED_COLUMN.scope]: { description: 'The customer number, e.g. 4711', pattern: '[0-9]{1,10}', maxValues: 1 } },
          },
        ],
        maxDuration: '1h',
        defaultDuration: '2m',
        pendingTimeout: '1h',
        minReasonLength: 10,
        approvers: { users: [FIRST_APPROVER.id, SECOND_APPROVER.id], required: 1 },
        approvalChannel: APPROVALS_CHANNEL.id,
      },
    ],
  };
  return `# Written by npm run demo: a policy for the local Slack sandbox.\n${stringify(policy)}`;
}
