/**
 * The people, channels and user groups of the demo workspace. Ids look like Slack's (U…, C…, S…)
 * so the policy validates as a real one would; emails give the requester a database login through
 * the policy's identity template ({localpart}).
 */

/** Everyone's email domain in the demo workspace: the only one the demo policy's identity accepts. */
export const DEMO_EMAIL_DOMAIN = 'demo.example';

export interface DemoPerson {
  id: string;
  /** Slack handle, shown as @name. */
  name: string;
  realName: string;
  email: string;
  tz: string;
  /** What this person does in the story, for the printed guide. */
  part: string;
}

export const REQUESTER: DemoPerson = {
  id: 'U0DEMORILEY',
  name: 'riley',
  realName: 'Riley Chen',
  email: 'riley@demo.example',
  tz: 'Europe/Berlin',
  part: 'analyst: asks for read access to the analytics database',
};

export const FIRST_APPROVER: DemoPerson = {
  id: 'U0DEMOAVERY',
  name: 'avery',
  realName: 'Avery Patel',
  email: 'avery@demo.example',
  tz: 'Europe/Berlin',
  part: 'data owner: one of the two approvals',
};

export const SECOND_APPROVER: DemoPerson = {
  id: 'U0DEMOJORDAN',
  name: 'jordan',
  realName: 'Jordan Kim',
  email: 'jordan@demo.example',
  tz: 'America/New_York',
  part: 'data owner: the other approval',
};

export const SECURITY_LEAD: DemoPerson = {
  id: 'U0DEMOSAM',
  name: 'sam',
  realName: 'Sam Okafor',
  email: 'sam@demo.example',
  tz: 'Europe/London',
  part: 'security lead: reviews break-glass use, reads the digest, may use break-glass',
};

export const DEMO_PEOPLE: readonly DemoPerson[] = [REQUESTER, FIRST_APPROVER, SECOND_APPROVER, SECURITY_LEAD];

/** Where Latch posts requests for approval. */
export const APPROVALS_CHANNEL = { id: 'C0DEMOAPPROVALS', name: 'access-requests' };
/** Where break-glass use, alerts and the digest go. */
export const SECURITY_CHANNEL = { id: 'C0DEMOSECURITY', name: 'security' };
export const DEMO_CHANNELS = [APPROVALS_CHANNEL, SECURITY_CHANNEL] as const;

/** The approvers as a user group too, so the sandbox can show a group mention. */
export const DATA_OWNERS_GROUP = { id: 'S0DEMODATAOWNERS', handle: 'data-owners', users: [FIRST_APPROVER.id, SECOND_APPROVER.id] };
/** Who may edit the revenue dashboard: a group Latch adds people to for a while (the demo's second resource). */
export const DASHBOARD_EDITORS_GROUP = { id: 'S0DEMODASHEDIT', handle: 'dashboard-editors', users: [] as string[] };
export const DEMO_USERGROUPS = [DATA_OWNERS_GROUP, DASHBOARD_EDITORS_GROUP] as const;

/** The database login a person's email gives under the template `{localpart}<suffix>`. */
export function databaseLoginOf(person: DemoPerson, suffix = ''): string {
  return `${person.email.split('@')[0]!}${suffix}`.toLowerCase();
}
