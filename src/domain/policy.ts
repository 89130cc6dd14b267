import { isMachineRequester, machineIdOf, type MachinePolicy } from './machine.ts';
import type { OnCallCondition } from './on-call.ts';
import type { ScopeApprovalRule, ScopeParameter } from './scope-rules.ts';

/**
 * The policy, as the rest of Latch sees it once the file has been validated: durations are whole
 * seconds, defaults are already applied, and ids are Slack ids. The YAML file's own shape and its
 * validation live in src/config/policy-file.ts.
 */

/**
 * Who a rule applies to. `everyone` means every member of the workspace, never a machine: a
 * machine is in an audience only when it is named in `machines`.
 */
export type Audience = { everyone: true } | { everyone: false; users: string[]; groups: string[]; machines?: string[] };

export interface RolePolicy {
  /** The id people pick and the provider receives, e.g. `read`. */
  id: string;
  description?: string;
  /** The longest duration that may be requested for this role (the resource's unless narrowed). */
  maxDurationSeconds: number;
  /**
   * `1`: single-use access. The login made for the request serves one session; once Latch sees
   * that session end, the access ends at once instead of at its expiry. Absent: it lasts its duration.
   */
  uses?: 1;
  /**
   * Roles of the same resource this one may be narrowed to when an approver approves with changes
   * (`write` lists `read`). Absent: an approver can only shorten the duration, never pick another role.
   */
  lesser?: string[];
  /**
   * Parameters every request of this role fills in (issue 17: one customer's rows, some tables),
   * in the order the policy lists them; absent: the role is granted whole and takes no scope.
   */
  scopes?: ScopeParameter[];
  /** Scopes that need more approvers than the resource's (more than one customer, a sensitive table). */
  moreApprovers?: ScopeApprovalRule[];
}

export interface ApproverPolicy {
  /** Slack user ids (U…/W…) who may decide. */
  users: string[];
  /** Slack user group ids (S…) whose members may decide. */
  groups: string[];
  /** Distinct approvals needed to approve; the requester never counts. */
  required: number;
  /**
   * User groups (S…) that must each contribute at least one of the approvals ("one from
   * security"): approved only when every group here has an approver among the approvals.
   */
  oneFrom: string[];
  /** One more approval when the request raised a risk flag (domain/risk-flags.ts). */
  oneMoreWhenFlagged?: boolean;
  /**
   * Whoever is on call now for these schedules or escalation policies (PagerDuty, Opsgenie) may
   * decide too, asked when they click; absent: only `users` and `groups`.
   */
  onCall?: OnCallCondition;
}

export type Weekday = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';

/** A weekly window in a time zone: from `fromMinute` to `toMinute` after midnight on `days`. */
export interface WeeklyWindow {
  /** An IANA time zone, e.g. Europe/Berlin. */
  timeZone: string;
  days: Weekday[];
  fromMinute: number;
  /** Exclusive; before `fromMinute` means the window runs past midnight into the next day. */
  toMinute: number;
}

/**
 * Low-risk requests the policy approves by itself. Every condition given must hold; an absent
 * condition does not restrict. An auto-approved request is still posted and audited, with the
 * rule's name as the decider.
 */
export interface AutoApprovalRule {
  name: string;
  /** Role ids it covers; null means every role of the resource. */
  roles: string[] | null;
  /** The longest duration it approves; null means up to the role's maximum. */
  maxDurationSeconds: number | null;
  requesters: Audience;
  /** When it applies, by the clock in a time zone; null means at any time. */
  schedule: WeeklyWindow | null;
  /**
   * Limits that keep auto-approval from being chained into standing access. The whole continuous
   * stretch a request would join (the requester's live and booked access of the same resource and
   * role, plus this request) is held to `maxDurationSeconds` (the role's maximum when null).
   */
  limits: AutoApprovalLimits;
  /**
   * Only for whoever is on call now (or while an incident is open), as PagerDuty or Opsgenie says
   * when the request is made; absent: no such condition. Access approved this way ends at the
   * on-call shift's end at the latest, and earlier when a later check finds the condition gone.
   */
  onCall?: OnCallCondition;
}

export interface AutoApprovalLimits {
  /** After an auto-approved stretch of the role ends, the next auto-approval waits this long. */
  cooldownSeconds: number;
  /** Auto-approvals of the resource and role per person in any rolling 24 hours. */
  maxPerDay: number;
  /** Only requests starting within this time of being asked are auto-approved (no far bookings). */
  startWithinSeconds: number;
}

/** Safe limits for a rule that sets none: see policy.example.yaml. */
export const DEFAULT_AUTO_APPROVAL_LIMITS: AutoApprovalLimits = { cooldownSeconds: 3600, maxPerDay: 3, startWithinSeconds: 3600 };

export interface ProviderSettings {
  /** Provider type, e.g. `postgres`, `slack-usergroup`, `webhook`. */
  type: string;
  /** The provider's own settings, validated by that provider. */
  settings: Record<string, unknown>;
}

/**
 * How a Slack user becomes the identity a provider knows (a database user, a webhook's user):
 * an explicit map first, then the Slack user id or their Slack email through a template.
 */
export interface IdentityPolicy {
  /** Slack user id → principal; wins over `from`. */
  map: Record<string, string>;
  /** Where a principal comes from for users not in `map`: nowhere (`map-only`) refuses them. */
  from: 'slack-user-id' | 'email' | 'map-only';
  /** For `email`: the principal, with `{email}`, `{localpart}` and `{domain}` filled in. */
  template: string;
  /**
   * For `email`: the email domains (lower case) whose people have accounts here; an email at any
   * other domain gives no identity. Absent or empty: any domain, which the policy file allows only
   * when the template keeps the domain in the principal.
   */
  domains?: string[];
  /** Whether Slack guests (multi- and single-channel) may request this resource; absent means no. */
  allowGuests?: boolean;
}

/**
 * Emergency access without approval: granted at once, announced to the security channel, and
 * reviewed afterwards by someone other than the person who used it, with reminders until it is.
 */
export interface BreakGlassPolicy {
  /** Who may use it (often the on-call group); independent of who may request normally. */
  requesters: Audience;
  /** The longest break-glass access, usually far shorter than the role allows by approval. */
  maxDurationSeconds: number;
  /** Someone must review it within this time after it was used. */
  reviewWithinSeconds: number;
  /** Once the review is overdue, remind the security channel this often until it is done. */
  remindEverySeconds: number;
}

/** Nudging undecided requests: remind the approvers, then widen the circle. */
export interface ReminderPolicy {
  /** Remind the approvers when a request has waited this long, and again after each such wait. */
  afterSeconds: number;
  /** Escalate once a request has waited this long; null never escalates. */
  escalateAfterSeconds: number | null;
  /** User groups (S…) told at escalation, whose members may then decide too. */
  escalateTo: string[];
}

export interface ResourcePolicy {
  id: string;
  name: string;
  description?: string;
  provider: ProviderSettings;
  identity: IdentityPolicy;
  roles: RolePolicy[];
  maxDurationSeconds: number;
  requesters: Audience;
  approvers: ApproverPolicy;
  /** Slack channel id (C…/G…) where this resource's requests are posted for approval. */
  approvalChannel: string;
  /** A pending request nobody decides within this many seconds expires. */
  pendingTimeoutSeconds: number;
  /** The duration the request form suggests; null suggests none. */
  defaultDurationSeconds: number | null;
  /**
   * Accounts that hold a role of this resource on purpose, without a grant (a service account, the
   * owner): the standing-access scan does not report them.
   */
  permanentHolders: string[];
  /** A regular expression every request's ticket must match; null means a ticket is optional. */
  ticketPattern: string | null;
  /** The shortest reason accepted, in characters (at least 1: a reason is always required). */
  minReasonLength: number;
  /** Tried in order; the first that matches approves the request. */
  autoApprove: AutoApprovalRule[];
  /** Null: break-glass is not available for this resource. */
  breakGlass: BreakGlassPolicy | null;
  /** Null: nobody is reminded; the request simply expires after pendingTimeoutSeconds. */
  reminders: ReminderPolicy | null;
}

/** Who watches over access as a whole, beyond each resource's approvers. */
export interface SecurityPolicy {
  /**
   * Slack channel id for alerts that must not go unnoticed (a revocation that keeps failing).
   * Without one, alerts go to the resource's approval channel.
   */
  channel: string | null;
  /** Who may end anyone's active access early ("Revoke now"), besides the requester. */
  admins: { users: string[]; groups: string[] };
}

/**
 * A scheduled summary of access to a Slack channel. It covers the time since the schedule's
 * previous run: a daily digest covers a day, a weekly one a week.
 */
export interface DigestPolicy {
  name: string;
  /** A cron expression (minute hour day-of-month month day-of-week), read in `timeZone`. */
  schedule: string;
  timeZone: string;
  /** Slack channel id (C…/G…). */
  channel: string;
  /**
   * An approval given sooner than this after its request was made counts as rubber-stamped: too
   * quick to have read the request. The digest names who gave such approvals (domain/approver-health.ts).
   */
  rubberStampUnderSeconds: number;
}

/** Limits on what one person can ask for at once, whatever the resource. */
export interface RequestLimits {
  /** Requests of one person waiting for approvers at once; a further one is refused when asked. */
  pendingPerPerson: number;
}

export const DEFAULT_REQUEST_LIMITS: RequestLimits = { pendingPerPerson: 10 };

export interface Policy {
  /** Hex SHA-256 of the policy file's bytes: recorded on each request decided under it. */
  version: string;
  security: SecurityPolicy;
  limits: RequestLimits;
  digests: DigestPolicy[];
  resources: ResourcePolicy[];
  /** Machine principals (pipelines, agents) that may ask through the API. */
  machines: MachinePolicy[];
}

/** Where alerts about `resource` go: the security channel, else the resource's approval channel. */
export function alertChannelFor(policy: Policy, resource: ResourcePolicy | undefined): string | null {
  return policy.security.channel ?? resource?.approvalChannel ?? null;
}

/**
 * The same provider type and settings: the same target, reached the same way. Key order does not
 * matter (settings read back from PostgreSQL's jsonb come in its own order).
 */
export function sameProviderSettings(a: ProviderSettings, b: ProviderSettings): boolean {
  return a.type === b.type && canonicalJson(a.settings) === canonicalJson(b.settings);
}

/** JSON text with every object's keys sorted: equal values give equal text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, item]) => item !== undefined);
    return `{${entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export function findResource(policy: Policy, resourceId: string): ResourcePolicy | undefined {
  return policy.resources.find((resource) => resource.id === resourceId);
}

export function findRole(resource: ResourcePolicy, roleId: string): RolePolicy | undefined {
  return resource.roles.find((role) => role.id === roleId);
}

/** The Slack user groups whose membership decides `audience`; user ids are known without a lookup. */
export function groupsOf(audience: Audience): string[] {
  return audience.everyone ? [] : audience.groups;
}

/**
 * Whether `userId` belongs to `audience`. `memberGroups` holds the user groups the user is known to
 * be in (resolved through Slack by the caller): the domain does no I/O.
 */
export function isInAudience(audience: Audience, userId: string, memberGroups: ReadonlySet<string>): boolean {
  // A machine belongs only where it is named; approvers and reviewers never name machines.
  if (isMachineRequester(userId)) return !audience.everyone && (audience.machines ?? []).includes(machineIdOf(userId)!);
  if (audience.everyone) return true;
  return audience.users.includes(userId) || audience.groups.some((group) => memberGroups.has(group));
}
