import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { type Document, isMap, isNode, isScalar, LineCounter, type Node, parseDocument, type YAMLError } from 'yaml';
import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';
import { MAX_REASON_LENGTH } from '../domain/access-request-rules.ts';
import { DEFAULT_RUBBER_STAMP_UNDER_SECONDS } from '../domain/approver-health.ts';
import { formatDuration, parseDuration } from '../domain/duration.ts';
import { templateKeepsDomain } from '../domain/identity.ts';
import { DEFAULT_AUTO_APPROVAL_LIMITS, DEFAULT_REQUEST_LIMITS } from '../domain/policy.ts';
import type { MachinePolicy } from '../domain/machine.ts';
import { ON_CALL_PROVIDERS, type OnCallCondition } from '../domain/on-call.ts';
import { GITHUB_ACTIONS_ISSUER, issuerUrlProblem, unpinnedGithubProblem } from '../domain/oidc-claims.ts';
import { MAX_SCOPE_VALUE_LENGTH, MAX_SCOPE_VALUES, SCOPE_PARAMETER_NAME, wholeValuePattern, type ScopeApprovalRule, type ScopeParameter } from '../domain/scope-rules.ts';
import type { ApproverPolicy, Audience, AutoApprovalRule, BreakGlassPolicy, DigestPolicy, IdentityPolicy, ReminderPolicy, Policy, ResourcePolicy, RolePolicy, Weekday } from '../domain/policy.ts';
import { PROVIDER_DEFINITIONS, providerDefinition } from '../providers/registry.ts';

/**
 * The policy file (YAML) as people write it, and how it becomes the domain `Policy`. Validation
 * happens in two passes: a zod schema for the shape of each part, then rules that span fields
 * (duplicates, limits, reachability) together with the defaults. Every problem names the field and
 * the line, so the person who edited the file can go straight to the mistake.
 */

export type PolicyLoadResult = { ok: true; policy: Policy } | { ok: false; problems: string[] };

const DEFAULT_PENDING_TIMEOUT_SECONDS = 24 * 60 * 60;
const DEFAULT_APPROVALS = 1;
// Slack's limits for the text of a select option and for a short description we show beside it.
const NAME_MAX_LENGTH = 75;
const DESCRIPTION_MAX_LENGTH = 150;

const ID_PATTERN = /^[a-z0-9][a-z0-9_.-]{0,63}$/;
const USER_ID_PATTERN = /^[UW][A-Z0-9]{2,}$/;
const GROUP_ID_PATTERN = /^S[A-Z0-9]{2,}$/;
const CHANNEL_ID_PATTERN = /^[CG][A-Z0-9]{2,}$/;

// ---------------------------------------------------------------------------------------------
// The file's shape

/** Schema-level messages for a missing or empty field; other failures fall through to `friendlyMessage`. */
function whenMissing(hint: string) {
  return {
    error: (issue: { input?: unknown }) => {
      if (issue.input === undefined) return `is missing: ${hint}`;
      return issue.input === null ? `is empty: ${hint}` : undefined;
    },
  };
}

const textField = (missingHint?: string) => z.string(missingHint === undefined ? undefined : whenMissing(missingHint));

function slackId(pattern: RegExp, message: string) {
  return z.string().regex(pattern, { error: message });
}

const userId = slackId(
  USER_ID_PATTERN,
  'must be a Slack user id such as U012ABCDEF, not a name (in Slack: profile → ⋮ → Copy member ID)',
);
const groupId = slackId(
  GROUP_ID_PATTERN,
  'must be a Slack user group id such as S0123ABCD, not a handle like @oncall ' +
    "(Slack's usergroups.list method shows it)",
);
const channelId = slackId(
  CHANNEL_ID_PATTERN,
  'must be a Slack channel id such as C0123ABCD, not a name like #approvals ' +
    '(in Slack: channel name → About → Channel ID)',
);

function id(missingHint: string) {
  return textField(missingHint).regex(ID_PATTERN, {
    error:
      'must be a lowercase id such as prod-db: up to 64 letters a-z, digits, "-", "_" or ".", ' +
      'starting with a letter or digit',
  });
}

// parse-duration's messages end with a full stop; ours are followed by "(line N)".
const withoutFullStop = (message: string) => message.replace(/\.$/, '');

/** A duration as people write it (`30m`, `8h`, `1d`), held as whole seconds. */
const duration = z.preprocess(
  // A bare YAML number reaches parseDuration as text, so the person gets its "no unit" advice.
  (value) => (typeof value === 'number' ? String(value) : value),
  z.string({ error: (issue) => (issue.input === undefined ? 'is missing: give a duration such as 30m, 2h or 1d' : 'must be a duration such as 30m, 2h or 1d') }).transform((value, ctx) => {
    const parsed = parseDuration(value);
    if (parsed.ok) return parsed.seconds;
    ctx.addIssue({ code: 'custom', message: withoutFullStop(parsed.message) });
    return z.NEVER;
  }),
);

/** The longest rubber-stamp threshold: beyond it, an approval may well have been read. */
const RUBBER_STAMP_MAX_SECONDS = 600;

/** A digest's rubber-stamp threshold: seconds are the point here, so a duration under a minute is allowed. */
const rubberStampUnder = z.preprocess(
  (value) => (typeof value === 'number' ? String(value) : value),
  z.string({ error: 'must be a duration such as 10s or 30s' }).transform((value, ctx) => {
    // parseDuration's advice for a bare number is minutes or hours; here it is seconds.
    if (/^\s*\d+\s*$/.test(value)) {
      ctx.addIssue({ code: 'custom', message: `"${value.trim()}" has no unit: write ${value.trim()}s for seconds` });
      return z.NEVER;
    }
    const parsed = parseDuration(value, 1);
    if (!parsed.ok) {
      ctx.addIssue({ code: 'custom', message: withoutFullStop(parsed.message) });
      return z.NEVER;
    }
    if (parsed.seconds > RUBBER_STAMP_MAX_SECONDS) {
      ctx.addIssue({ code: 'custom', message: `must be at most ${formatDuration(RUBBER_STAMP_MAX_SECONDS)}: it is how soon an approval is too quick to have been read, such as 10s` });
      return z.NEVER;
    }
    return parsed.seconds;
  }),
);

const approvalCount = z
  .int({ error: 'must be a whole number, 1 or more' })
  .min(1, { error: 'must be a whole number, 1 or more' });

const description = textField().max(DESCRIPTION_MAX_LENGTH, {
  error: `must be at most ${DESCRIPTION_MAX_LENGTH} characters`,
});

/** A regular expression, checked to compile here so a typo fails `policy check`, not a request. */
function regularExpression(example: string) {
  return z
    .string({ error: `must be a regular expression such as ${example}, in quotes` })
    .min(1, { error: 'must not be empty' })
    .superRefine((pattern, ctx) => {
      try {
        new RegExp(pattern, 'u');
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: `is not a valid regular expression: ${(error as Error).message.replace(/^Invalid regular expression: /, '')}` });
      }
    });
}

const ticketPattern = regularExpression('^SEC-\\d+$');

const minReasonLength = z
  .int({ error: 'must be a whole number of characters' })
  .min(1, { error: 'must be at least 1: a reason is always required' })
  .max(MAX_REASON_LENGTH, { error: `must be at most ${MAX_REASON_LENGTH}, the longest reason Latch accepts` });

const remindersSchema = z.strictObject({
  after: duration,
  escalateAfter: duration.optional(),
  escalateTo: z.array(groupId).default([]),
});

const defaultsSchema = z.strictObject({
  maxDuration: duration.optional(),
  pendingTimeout: duration.optional(),
  approvals: approvalCount.optional(),
  approvalChannel: channelId.optional(),
  ticketPattern: ticketPattern.optional(),
  minReasonLength: minReasonLength.optional(),
  reminders: remindersSchema.optional(),
  defaultDuration: duration.optional(),
});

const scopeValueCount = (least: number) =>
  z
    .int({ error: `must be a whole number, ${least} or more` })
    .min(least, { error: `must be a whole number, ${least} or more` })
    .max(MAX_SCOPE_VALUES, { error: `must be at most ${MAX_SCOPE_VALUES}` });

/** One scope parameter of a role (issue 17): what each value must look like, and how many. */
const scopeParameterSchema = z.strictObject({
  description: description.optional(),
  // Anchored when used: the whole value must match.
  pattern: regularExpression('^[0-9]+$').optional(),
  values: z
    .array(z.string({ error: 'must be text, such as public.orders' }).trim().min(1, { error: 'must not be empty' }), { error: 'must be a list of the values allowed, such as [public.orders, public.invoices]' })
    .min(1, { error: 'must list at least one value, or leave values out and give a pattern' })
    .optional(),
  minValues: scopeValueCount(0).optional(),
  maxValues: scopeValueCount(1).optional(),
});

const scopeConditionSchema = z.strictObject({
  moreThan: z.int({ error: 'must be a whole number, 0 or more' }).min(0, { error: 'must be a whole number, 0 or more' }).optional(),
  anyOf: z.array(z.string({ error: 'must be text' }).trim().min(1, { error: 'must not be empty' })).min(1, { error: 'must list at least one value' }).optional(),
});

/** Scopes that need more approvers: `when` every condition holds, `add` approvals and/or `oneFrom` groups. */
const scopeApprovalSchema = z.strictObject({
  when: z.record(z.string(), scopeConditionSchema, { error: 'must be a mapping of scope parameters to conditions, such as customer: { moreThan: 1 }' }),
  add: approvalCount.optional(),
  oneFrom: z.array(groupId).min(1, { error: 'must list at least one user group, or leave oneFrom out' }).optional(),
});

const roleObjectSchema = z.strictObject({
  id: id('give the role an id such as read'),
  description: description.optional(),
  maxDuration: duration.optional(),
  uses: z.literal(1, { error: 'must be 1 (single-use access: one session); leave it out for access that lasts its duration' }).optional(),
  lesser: z.array(id('name a role of this resource that gives less, such as read')).min(1, { error: 'must list at least one role, or leave lesser out' }).optional(),
  scopes: z.record(z.string(), scopeParameterSchema, { error: 'must be a mapping of parameter names to their rules, such as customer: { pattern: "^[0-9]+$" }' }).optional(),
  moreApprovers: z.array(scopeApprovalSchema).min(1, { error: 'must list at least one rule, or leave moreApprovers out' }).optional(),
});

// `- read` is shorthand for `- id: read`.
const roleSchema = z.preprocess((value) => (typeof value === 'string' ? { id: value } : value), roleObjectSchema);

// A machine in a list of people who decide: said plainly rather than as an unknown field.
const noMachines = (what: string) => z.never({ error: `machines can never ${what}: only people (users and groups) can` }).optional();

const audienceSchema = z.strictObject({
  users: z.array(userId).default([]),
  groups: z.array(groupId).default([]),
});

const adminsSchema = audienceSchema.extend({ machines: noMachines('be security admins') });

const machineId = id('give the machine an id such as deploy-pipeline');

/** Who may ask: people, and machines named by their id under `machines` (never by `everyone`). */
const requesterAudienceSchema = audienceSchema.extend({ machines: z.array(machineId).default([]) });

const requestersSchema = z.union([z.literal('everyone'), requesterAudienceSchema], {
  error: 'must be everyone, or a mapping with users, groups and/or machines',
});

/** A schedule, escalation policy or service id of PagerDuty (PABC123) or Opsgenie (a UUID): it goes into a URL. */
const onCallId = z
  .string({ error: 'must be an id such as PABC123 (PagerDuty) or a UUID (Opsgenie), in quotes if it could be read as a number' })
  .regex(/^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/, { error: 'must be an id such as PABC123 (PagerDuty) or a UUID (Opsgenie): letters, digits and "-", not a name' });

// A key in the policy file would be read by everyone who can read the file, and shown in reviews.
const noApiKey = z
  .never({ error: 'must not be in the policy file: Latch reads the API key from PAGERDUTY_API_KEY or OPSGENIE_API_KEY in its environment' })
  .optional();

const onCallSchema = z.strictObject({
  provider: z.enum(ON_CALL_PROVIDERS, {
    error: (issue) => (issue.input === undefined ? `is missing: say which on-call service to ask, ${ON_CALL_PROVIDERS.join(' or ')}` : `must be one of ${ON_CALL_PROVIDERS.join(', ')}`),
  }),
  schedules: z.array(onCallId).default([]),
  escalationPolicies: z.array(onCallId).default([]),
  maxLevel: z.int({ error: 'must be a whole number, 1 or more (1 is the first escalation level)' }).min(1, { error: 'must be a whole number, 1 or more (1 is the first escalation level)' }).optional(),
  incidentOpenOn: z.array(onCallId).default([]),
  apiKey: noApiKey,
  token: noApiKey,
});

const approversSchema = z.strictObject(
  {
    users: z.array(userId).default([]),
    groups: z.array(groupId).default([]),
    required: approvalCount.optional(),
    oneFrom: z.array(groupId).default([]),
    oneMoreWhenFlagged: z.boolean({ error: 'must be true or false' }).default(false),
    onCall: onCallSchema.optional(),
    machines: noMachines('approve'),
  },
  whenMissing('list who may approve, with users and/or groups'),
);

/**
 * A provider's settings, checked by the schema its definition owns but kept as written: the
 * provider applies its own defaults when it is built, and a grant records the settings the file
 * gave (revoke-grant compares that record with the policy in force).
 */
function settingsCheckedBy(schema: z.ZodType) {
  return z
    .record(z.string(), z.unknown())
    .prefault({})
    .superRefine((settings, ctx) => {
      const parsed = schema.safeParse(settings, { error: friendlyMessage });
      parsed.error?.issues.forEach((issue) => ctx.addIssue(issue as z.core.$ZodRawIssue));
    });
}

const PROVIDER_TYPE_LIST = PROVIDER_DEFINITIONS.map((definition) => definition.type).join(', ');
const providerTypeMissing = whenMissing(`give its type, one of ${PROVIDER_TYPE_LIST}`).error;

// One option per registered provider type: a new provider needs no line here.
const providerOptions = PROVIDER_DEFINITIONS.map((definition) =>
  z.strictObject({ type: z.literal(definition.type), settings: settingsCheckedBy(definition.settings) }),
);

const providerSchema = z.discriminatedUnion('type', providerOptions as [(typeof providerOptions)[number], ...typeof providerOptions], {
  error: (issue) => (issue.code === 'invalid_union' ? `must be one of ${PROVIDER_TYPE_LIST}` : providerTypeMissing(issue)),
});

const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const satisfies readonly Weekday[];

/** `09:00` → 540: minutes after midnight. */
const clockTime = z
  .string({ error: 'must be a time of day such as 09:00, in quotes' })
  .regex(/^([01]\d|2[0-3]):[0-5]\d$/, { error: 'must be a time of day such as 09:00 (24-hour, hh:mm)' })
  .transform((value) => Number(value.slice(0, 2)) * 60 + Number(value.slice(3)));

const timeZone = z.string({ error: 'must be a time zone such as Europe/Berlin or UTC' }).refine(
  (zone) => {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: zone });
      return true;
    } catch {
      return false;
    }
  },
  { error: 'must be an IANA time zone such as Europe/Berlin, America/New_York or UTC' },
);

const scheduleSchema = z
  .strictObject({
    timeZone,
    days: z
      .array(z.enum(WEEKDAYS, { error: `must be one of ${WEEKDAYS.join(', ')}` }))
      .min(1, { error: 'must list at least one day' })
      .default([...WEEKDAYS]),
    from: clockTime,
    to: clockTime,
  })
  .refine((schedule) => schedule.from !== schedule.to, { error: 'from and to must differ (use no schedule for all day)', path: ['to'] });

const autoApproveSchema = z.strictObject({
  name: id('name the rule, such as read-in-office-hours: it is shown as the decider'),
  roles: z.array(z.string()).min(1, { error: 'must list at least one role, or leave roles out for every role' }).optional(),
  maxDuration: duration.optional(),
  requesters: requestersSchema.default('everyone'),
  schedule: scheduleSchema.optional(),
  // Limits against chaining auto-approvals into standing access (see AutoApprovalLimits).
  cooldown: duration.optional(),
  maxPerDay: z.int({ error: 'must be a whole number, 1 or more' }).min(1, { error: 'must be a whole number, 1 or more' }).optional(),
  startWithin: duration.optional(),
  onCall: onCallSchema.optional(),
});

const breakGlassSchema = z.strictObject({
  requesters: requestersSchema,
  maxDuration: duration,
  reviewWithin: duration,
  remindEvery: duration.optional(),
});

const IDENTITY_SOURCES = ['slack-user-id', 'email', 'map-only'] as const;
const TEMPLATE_FIELDS = /\{(?!email\}|localpart\}|domain\})[^}]*\}/;

// A host name: labels of letters, digits and inner hyphens, at least two of them.
const EMAIL_DOMAIN_PATTERN = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i;
const emailDomain = z
  .string({ error: 'must be an email domain such as example.com' })
  .regex(EMAIL_DOMAIN_PATTERN, { error: 'must be an email domain such as example.com, without @ or wildcards' })
  .transform((domain) => domain.toLowerCase());

const identitySchema = z.strictObject({
  from: z.enum(IDENTITY_SOURCES, { error: `must be one of ${IDENTITY_SOURCES.join(', ')}` }).optional(),
  template: z
    .string()
    .min(1, { error: 'must not be empty' })
    .refine((value) => !TEMPLATE_FIELDS.test(value), { error: 'may only use {email}, {localpart} and {domain}' })
    .optional(),
  map: z.record(userId, z.string().min(1, { error: 'must not be empty' })).default({}),
  domains: z.array(emailDomain).min(1, { error: 'must list at least one email domain, such as example.com' }).optional(),
  allowGuests: z.boolean({ error: 'must be true or false' }).optional(),
});

const resourceSchema = z.strictObject({
  id: id('give the resource an id such as prod-db'),
  name: textField('give the name people see in Slack')
    .trim()
    .min(1, { error: 'must not be empty' })
    .max(NAME_MAX_LENGTH, { error: `must be at most ${NAME_MAX_LENGTH} characters (Slack's limit for option text)` }),
  description: description.optional(),
  provider: providerSchema,
  identity: identitySchema.optional(),
  roles: z
    .array(roleSchema, whenMissing('list at least one role, such as read'))
    .min(1, { error: 'must list at least one role, such as read' }),
  maxDuration: duration.optional(),
  requesters: requestersSchema.default('everyone'),
  approvers: approversSchema,
  approvalChannel: channelId.optional(),
  pendingTimeout: duration.optional(),
  ticketPattern: ticketPattern.optional(),
  minReasonLength: minReasonLength.optional(),
  autoApprove: z.array(autoApproveSchema).default([]),
  breakGlass: breakGlassSchema.optional(),
  reminders: remindersSchema.optional(),
  defaultDuration: duration.optional(),
  permanentHolders: z.array(z.string().min(1, { error: 'must not be empty' })).default([]),
});

const digestSchema = z
  .strictObject({
    name: id('name the digest, such as daily: `latch digest send daily` uses it'),
    schedule: z.string({ error: 'is missing: a cron expression such as "0 9 * * *" (09:00 every day)' }),
    timeZone: timeZone.default('UTC'),
    channel: channelId,
    rubberStampUnder: rubberStampUnder.optional(),
  })
  .superRefine((digest, ctx) => {
    try {
      CronExpressionParser.parse(digest.schedule, { tz: digest.timeZone });
    } catch (error) {
      ctx.addIssue({ code: 'custom', path: ['schedule'], message: `is not a cron expression such as "0 9 * * 1" (09:00 on Mondays): ${(error as Error).message}` });
    }
  })
  .transform(({ rubberStampUnder: seconds, ...digest }): DigestPolicy => ({ ...digest, rubberStampUnderSeconds: seconds ?? DEFAULT_RUBBER_STAMP_UNDER_SECONDS }));

const securitySchema = z.strictObject({
  channel: channelId.optional(),
  admins: adminsSchema.optional(),
});

const MACHINE_AUTHENTICATIONS = ['token', 'oidc'] as const;

/** A claim's allowed values: one pattern or a list of them (exact text, `*` and `**` globs). */
const claimPatterns = z.preprocess(
  (value) => (typeof value === 'string' ? [value] : value),
  z
    .array(z.string({ error: 'must be text, such as octo-org/deploy or refs/heads/*' }).trim().min(1, { error: 'must not be empty' }), {
      error: 'must be a value such as octo-org/deploy, or a list of them',
    })
    .min(1, { error: 'must list at least one value' }),
);

/** Workload identity: which OIDC tokens speak for the machine. */
const oidcSchema = z.strictObject({
  issuer: textField()
    .superRefine((issuer, ctx) => {
      const problem = issuerUrlProblem(issuer);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .default(GITHUB_ACTIONS_ISSUER),
  audience: textField('give the audience the job asks its OIDC token for, such as https://latch.example.com')
    .trim()
    .min(1, { error: 'must not be empty' })
    .max(255, { error: 'must be at most 255 characters' }),
  claims: z
    .record(z.string(), claimPatterns, { error: 'must be a mapping of claim names to values, such as repository: octo-org/deploy' })
    .refine((claims) => Object.keys(claims).length > 0, {
      error: 'must match at least one claim, such as repository: octo-org/deploy: without one, any token with this audience would do',
    }),
});

/** A machine principal: a pipeline or an agent that asks through the API, answered for by a person. */
const machineSchema = z
  .strictObject({
    id: machineId,
    description: description.optional(),
    owner: z.union([z.strictObject({ user: userId }), z.strictObject({ group: groupId })], {
      error: (issue) =>
        issue.input === undefined
          ? 'is missing: name the person who answers for this machine, as user: U012ABCDEF or group: S0123ABCD'
          : 'must be user: U012ABCDEF or group: S0123ABCD, the Slack user or user group who answers for this machine',
    }),
    authentication: z.enum(MACHINE_AUTHENTICATIONS, {
      error: (issue) => (issue.input === undefined ? `is missing: say how the machine proves who it is (${MACHINE_AUTHENTICATIONS.join(', ')})` : `must be one of ${MACHINE_AUTHENTICATIONS.join(', ')}`),
    }),
    oidc: oidcSchema.optional(),
    account: textField('give the account providers grant to for this machine, such as deploy_bot').trim().min(1, { error: 'must not be empty' }),
  })
  .superRefine((machine, ctx) => {
    if (machine.authentication === 'oidc' && machine.oidc === undefined) {
      ctx.addIssue({ code: 'custom', path: ['oidc'], message: 'is missing: a machine with authentication: oidc says which tokens are its own (audience and claims)' });
    }
    if (machine.authentication !== 'oidc' && machine.oidc !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['oidc'], message: 'is only for a machine with authentication: oidc' });
    }
    // No claims at all is said once, above.
    if (machine.oidc && Object.keys(machine.oidc.claims).length > 0) {
      const problem = unpinnedGithubProblem({ type: 'oidc', ...machine.oidc });
      if (problem) ctx.addIssue({ code: 'custom', path: ['oidc', 'claims'], message: problem });
    }
  });

const limitsSchema = z.strictObject({
  pendingPerPerson: z.int({ error: 'must be a whole number, 1 or more' }).min(1, { error: 'must be a whole number, 1 or more' }).optional(),
});

// Defaults and each resource are checked on their own (below), so that one broken resource does not
// hide the problems of the others.
const fileSchema = z.strictObject(
  {
    defaults: z.unknown().optional(),
    security: securitySchema.optional(),
    limits: z.unknown().optional(),
    digests: z.unknown().optional(),
    machines: z.unknown().optional(),
    resources: z
      .array(z.unknown(), whenMissing('list at least one resource people can request'))
      .min(1, { error: 'is empty: list at least one resource people can request' }),
  },
  { error: 'must be a mapping with defaults, security, digests and resources' },
);

type Defaults = z.infer<typeof defaultsSchema>;
type ResourceInput = z.infer<typeof resourceSchema>;

// Field names per kind of mapping, to suggest the intended one for a typo.
const KNOWN_FIELDS: Record<string, readonly string[]> = {
  '': Object.keys(fileSchema.shape),
  defaults: Object.keys(defaultsSchema.shape),
  security: Object.keys(securitySchema.shape),
  'security.admins': Object.keys(audienceSchema.shape),
  'machines[]': Object.keys(machineSchema.shape),
  'machines[].oidc': Object.keys(oidcSchema.shape),
  'machines[].owner': ['user', 'group'],
  limits: Object.keys(limitsSchema.shape),
  'resources[]': Object.keys(resourceSchema.shape),
  'resources[].provider': ['type', 'settings'],
  'resources[].identity': Object.keys(identitySchema.shape),
  'resources[].roles[]': Object.keys(roleObjectSchema.shape),
  'resources[].roles[].moreApprovers[]': Object.keys(scopeApprovalSchema.shape),
  'resources[].requesters': Object.keys(requesterAudienceSchema.shape),
  'resources[].approvers': Object.keys(approversSchema.shape),
  'resources[].autoApprove[]': Object.keys(autoApproveSchema.shape),
  'resources[].autoApprove[].requesters': Object.keys(requesterAudienceSchema.shape),
  'resources[].autoApprove[].schedule': ['timeZone', 'days', 'from', 'to'],
  'resources[].autoApprove[].onCall': Object.keys(onCallSchema.shape),
  'resources[].approvers.onCall': Object.keys(onCallSchema.shape),
  'digests[]': ['name', 'schedule', 'timeZone', 'channel', 'rubberStampUnder'],
  'resources[].breakGlass': Object.keys(breakGlassSchema.shape),
  'resources[].reminders': Object.keys(remindersSchema.shape),
  'defaults.reminders': Object.keys(remindersSchema.shape),
  'resources[].breakGlass.requesters': Object.keys(audienceSchema.shape),
};

// ---------------------------------------------------------------------------------------------
// Problems

type Path = (string | number)[];

interface Problem {
  /** The field the message is about. */
  path: Path;
  message: string;
  /** Where to look for the line, when that is not `path` (an unknown field's own key). */
  locate?: Path;
}

const TYPE_NAMES: Record<string, string> = {
  string: 'text',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping of fields',
  record: 'a mapping',
};

function kindOf(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'empty';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return 'text';
  return `a ${typeof value}`;
}

/** Wording for the zod issues no schema words itself. */
function friendlyMessage(issue: z.core.$ZodRawIssue): string | undefined {
  if (issue.code === 'invalid_type') {
    if (issue.input === undefined) return 'is missing';
    if (issue.input === null) return 'is empty: give it a value or remove the line';
    return `must be ${TYPE_NAMES[issue.expected] ?? issue.expected}, not ${kindOf(issue.input)}`;
  }
  if (issue.code === 'too_small' && issue.origin === 'array') return 'must list at least one entry';
  return undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** `['resources', 2, 'approvers']` → `resources[].approvers`, the kind of mapping at that path. */
function mappingKind(path: Path): string {
  return path.map((segment) => (typeof segment === 'number' ? '[]' : `.${segment}`)).join('').replace(/^\./, '');
}

/**
 * The fields a mapping may have. A provider's settings depend on its type, read beside them in
 * the part being checked (`input`, at `relativeParent` within it).
 */
function knownFields(parent: Path, input: unknown, relativeParent: Path): readonly string[] {
  const kind = mappingKind(parent);
  // Scope parameters and conditions are keyed by the parameter's own name.
  if (/^resources\[\]\.roles\[\]\.scopes\.[^.]+$/.test(kind)) return Object.keys(scopeParameterSchema.shape);
  if (/^resources\[\]\.roles\[\]\.moreApprovers\[\]\.when\.[^.]+$/.test(kind)) return Object.keys(scopeConditionSchema.shape);
  if (kind === 'resources[].provider.settings') {
    const provider = valueAt(input, relativeParent.slice(0, -1));
    const definition = isRecord(provider) && typeof provider.type === 'string' ? providerDefinition(provider.type) : undefined;
    return definition ? Object.keys(definition.settings.shape) : [];
  }
  return KNOWN_FIELDS[kind] ?? [];
}

function valueAt(value: unknown, path: Path): unknown {
  return path.reduce<unknown>((at, segment) => (isRecord(at) || Array.isArray(at) ? (at as Record<string | number, unknown>)[segment] : undefined), value);
}

function unknownFieldMessage(key: string, known: readonly string[]): string {
  const closest = known
    .map((field) => ({ field, distance: editDistance(key.toLowerCase(), field.toLowerCase()) }))
    .sort((a, b) => a.distance - b.distance)[0];
  const suggestion = closest && closest.distance <= 2 ? `; did you mean "${closest.field}"?` : '';
  return `unknown field "${key}"${suggestion}`;
}

function problemsFromZod(error: z.ZodError, prefix: Path, input: unknown): Problem[] {
  return error.issues.flatMap((issue): Problem[] => {
    const path = [...prefix, ...(issue.path as Path)];
    if (issue.code === 'unrecognized_keys') {
      const known = knownFields(path, input, issue.path as Path);
      return issue.keys.map((key) => ({ path, message: unknownFieldMessage(key, known), locate: [...path, key] }));
    }
    return [{ path, message: issue.message }];
  });
}

// ---------------------------------------------------------------------------------------------
// From the validated shape to the domain Policy

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** What a resource inherits, and where its problems go. */
interface ResourceContext {
  defaults: Defaults;
  /** The ids of the policy's machines, which requesters may name; null when they could not be read. */
  machineIds: ReadonlySet<string> | null;
  /** The policy's machines, with their owners; null when they could not be read. */
  machines: readonly MachinePolicy[] | null;
  /** Records a problem with a field of the resource, given by its path inside the resource. */
  report: (field: Path, message: string) => void;
}

function duplicateResourceIds(resources: unknown[]): Problem[] {
  const firstIndex = new Map<string, number>();
  const problems: Problem[] = [];
  resources.forEach((resource, index) => {
    if (!isRecord(resource) || typeof resource.id !== 'string') return;
    const first = firstIndex.get(resource.id);
    if (first === undefined) {
      firstIndex.set(resource.id, index);
      return;
    }
    const message = `"${resource.id}" is already the id of resources[${first}]`;
    problems.push({ path: ['resources', index, 'id'], message });
  });
  return problems;
}

function resolveRoles(resource: ResourceInput, maxDurationSeconds: number, { report, defaults }: ResourceContext): RolePolicy[] {
  const firstIndex = new Map<string, number>();
  // The schema admitted only registered types.
  const createsLogins = providerDefinition(resource.provider.type)!.createsLogins?.(resource.provider.settings) === true;
  return resource.roles.map((role, index) => {
    if (role.uses !== undefined && !createsLogins) {
      report(['roles', index, 'uses'], 'needs provider settings that create a login per request (postgres: credentials: dynamic): only such a login can be ended after its one session');
    }
    const first = firstIndex.get(role.id);
    if (first === undefined) firstIndex.set(role.id, index);
    else report(['roles', index, 'id'], `"${role.id}" is already the id of roles[${first}]`);
    if (role.maxDuration !== undefined && role.maxDuration > maxDurationSeconds) {
      report(
        ['roles', index, 'maxDuration'],
        `${formatDuration(role.maxDuration)} is longer than the resource's maxDuration of ` +
          `${formatDuration(maxDurationSeconds)}; a role may only narrow it`,
      );
    }
    role.lesser?.forEach((lesser, lesserIndex) => {
      const where = ['roles', index, 'lesser', lesserIndex];
      const other = resource.roles.find((candidate) => candidate.id === lesser);
      if (lesser === role.id) report(where, `"${lesser}" is this role itself: list the roles that give less than it`);
      else if (!other) report(where, `"${lesser}" is not a role of this resource (roles: ${resource.roles.map((r) => r.id).join(', ')})`);
      // A loop orders nothing: approvers could widen a request step by step by "narrowing" it.
      else if (reachesRole(resource.roles, lesser, role.id)) report(where, `"${lesser}" leads back to "${role.id}" through lesser: the roles must not form a loop`);
    });
    const scopes = role.scopes === undefined ? undefined : resolveScopes(role.scopes, ['roles', index, 'scopes'], report);
    const moreApprovers = role.moreApprovers === undefined ? undefined : resolveMoreApprovers(role.moreApprovers, scopes ?? [], resource, ['roles', index, 'moreApprovers'], report, resource.approvers.required ?? defaults.approvals ?? DEFAULT_APPROVALS);
    return {
      id: role.id,
      ...(role.description === undefined ? {} : { description: role.description }),
      maxDurationSeconds: role.maxDuration ?? maxDurationSeconds,
      ...(role.uses === undefined ? {} : { uses: role.uses }),
      ...(role.lesser === undefined ? {} : { lesser: [...new Set(role.lesser)] }),
      ...(scopes && scopes.length > 0 ? { scopes } : {}),
      ...(moreApprovers ? { moreApprovers } : {}),
    };
  });
}

// Control characters have no place in an allowed value: it is shown to people and used downstream.
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u;

/** A role's scope parameters, in the order written, with their defaults (one value, required). */
function resolveScopes(scopes: Record<string, z.infer<typeof scopeParameterSchema>>, at: Path, report: ResourceContext['report']): ScopeParameter[] {
  const entries = Object.entries(scopes);
  if (entries.length === 0) report(at, 'must declare at least one parameter, or leave scopes out');
  return entries.map(([name, parameter]) => {
    const where = [...at, name];
    if (!SCOPE_PARAMETER_NAME.test(name)) report(where, `"${name}" is not a parameter name: up to 32 lowercase letters, digits and "_", starting with a letter (it is typed as name=value)`);
    if (parameter.pattern === undefined && parameter.values === undefined) {
      report(where, 'must give a pattern every value must match, or the values allowed: otherwise any text would be accepted');
    }
    const minValues = parameter.minValues ?? 1;
    const maxValues = parameter.maxValues ?? 1;
    if (minValues > maxValues) report([...where, parameter.minValues === undefined ? 'maxValues' : 'minValues'], `minValues (${minValues}) is more than maxValues (${maxValues})`);
    const values = parameter.values === undefined ? null : [...new Set(parameter.values)];
    values?.forEach((value, valueIndex) => {
      const place = [...where, 'values', valueIndex];
      if (value.length > MAX_SCOPE_VALUE_LENGTH || CONTROL_CHARACTERS.test(value)) report(place, `must be at most ${MAX_SCOPE_VALUE_LENGTH} characters, with no control characters`);
      else if (parameter.pattern !== undefined && !safeTest(parameter.pattern, value)) report(place, `"${value}" does not match this parameter's pattern ${parameter.pattern}, so it could never be asked for`);
    });
    return {
      name,
      ...(parameter.description === undefined ? {} : { description: parameter.description }),
      pattern: parameter.pattern ?? null,
      values,
      minValues,
      maxValues,
    };
  });
}

/** Whether `value` matches `pattern` as a whole; false for a pattern that does not compile (reported on its own). */
function safeTest(pattern: string, value: string): boolean {
  try {
    return wholeValuePattern(pattern).test(value);
  } catch {
    return true;
  }
}

/** moreApprovers rules, each naming only the role's parameters, with conditions that can hold. */
function resolveMoreApprovers(
  rules: Array<z.infer<typeof scopeApprovalSchema>>,
  scopes: readonly ScopeParameter[],
  resource: ResourceInput,
  at: Path,
  report: ResourceContext['report'],
  required: number,
): ScopeApprovalRule[] {
  if (scopes.length === 0) report(at, 'needs scopes on this role: moreApprovers rules look at the scope a request asks for');
  return rules.map((rule, index) => {
    const where = [...at, index];
    const conditions = Object.entries(rule.when);
    if (conditions.length === 0) report([...where, 'when'], 'must name at least one scope parameter, such as customer: { moreThan: 1 }');
    if (rule.add === undefined && rule.oneFrom === undefined) report(where, 'must say what more it needs: add (approvals) and/or oneFrom (user groups)');
    for (const [name, condition] of conditions) {
      const place = [...where, 'when', name];
      const parameter = scopes.find((candidate) => candidate.name === name);
      if (!parameter) {
        if (scopes.length > 0) report(place, `"${name}" is not a scope parameter of this role; its parameters are ${scopes.map((candidate) => candidate.name).join(', ')}`);
        continue;
      }
      if (condition.moreThan === undefined && condition.anyOf === undefined) report(place, 'must give moreThan and/or anyOf');
      if (condition.moreThan !== undefined && condition.moreThan >= parameter.maxValues) {
        report([...place, 'moreThan'], `can never hold: ${name} takes at most ${parameter.maxValues} ${parameter.maxValues === 1 ? 'value' : 'values'}`);
      }
      condition.anyOf?.forEach((value, valueIndex) => {
        const allowed = (parameter.values === null || parameter.values.includes(value)) && (parameter.pattern === null || safeTest(parameter.pattern, value));
        if (!allowed) report([...place, 'anyOf', valueIndex], `"${value}" is not a value ${name} allows, so this rule could never apply`);
      });
    }
    rule.oneFrom?.forEach((group, groupIndex) => {
      if (!resource.approvers.groups.includes(group)) report([...where, 'oneFrom', groupIndex], `${group} is not in approvers.groups: only approvers may approve, so add it there too`);
    });
    // As for approvers.required: with named users only, a count beyond them could never be reached.
    const users = new Set(resource.approvers.users).size;
    if (rule.add !== undefined && resource.approvers.groups.length === 0 && !resource.approvers.onCall && required + rule.add > users) {
      report([...where, 'add'], `needs ${required + rule.add} approvals in all but approvers lists only ${users} ${users === 1 ? 'user' : 'users'} and no groups, so such a request could never be approved`);
    }
    return {
      when: Object.fromEntries(conditions.map(([name, condition]) => [name, { ...(condition.moreThan === undefined ? {} : { moreThan: condition.moreThan }), ...(condition.anyOf === undefined ? {} : { anyOf: [...new Set(condition.anyOf)] }) }])),
      add: rule.add ?? 0,
      oneFrom: [...new Set(rule.oneFrom ?? [])],
    };
  });
}

/** Can `from` be narrowed, through `lesser` one step after another, to `to`? */
function reachesRole(roles: ResourceInput['roles'], from: string, to: string): boolean {
  const seen = new Set<string>();
  const queue = [from];
  for (let next = queue.pop(); next !== undefined; next = queue.pop()) {
    if (next === to) return true;
    if (seen.has(next)) continue;
    seen.add(next);
    queue.push(...(roles.find((role) => role.id === next)?.lesser ?? []));
  }
  return false;
}

function resolveRequesters({ requesters }: ResourceInput, context: ResourceContext): Audience {
  if (requesters !== 'everyone' && requesters.users.length === 0 && requesters.groups.length === 0 && requesters.machines.length === 0) {
    context.report(['requesters'], 'must list at least one user, group or machine, or be everyone');
  }
  checkMachinesNamed(requesters, ['requesters'], context);
  return audienceOf(requesters);
}

/** Every machine a requester list names must be one of the policy's machines. */
function checkMachinesNamed(requesters: ResourceInput['requesters'], at: Path, { machineIds, report }: ResourceContext): void {
  // Broken machines are reported on their own: naming one is then no second mistake.
  if (requesters === 'everyone' || machineIds === null) return;
  requesters.machines.forEach((machine, index) => {
    if (machineIds.has(machine)) return;
    const known = machineIds.size > 0 ? `the machines are ${[...machineIds].join(', ')}` : 'the policy has no machines section';
    report([...at, 'machines', index], `names no machine "${machine}": ${known}`);
  });
}

const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? '' : 's'}`;

function resolveApprovers({ approvers }: ResourceInput, context: ResourceContext): ApproverPolicy {
  const { defaults, report } = context;
  const { users, groups } = approvers;
  const required = approvers.required ?? defaults.approvals ?? DEFAULT_APPROVALS;
  const distinctUsers = new Set(users).size;
  const onCall = approvers.onCall ? resolveOnCall(approvers.onCall, ['approvers', 'onCall'], context) : undefined;
  if (onCall && onCall.schedules.length === 0 && onCall.escalationPolicies.length === 0) {
    // An incident alone would make every member of the workspace an approver while it is open.
    report(['approvers', 'onCall'], 'must name schedules or escalationPolicies: whoever is on call there may approve (incidentOpenOn alone would let anyone)');
  }
  if (users.length === 0 && groups.length === 0 && !onCall) {
    report(['approvers'], 'must list at least one user or group who may approve');
  } else if (groups.length === 0 && !onCall && required + (approvers.oneMoreWhenFlagged ? 1 : 0) > distinctUsers) {
    // Group sizes are only known at run time; a short list of named users is known now.
    const own = approvers.required !== undefined;
    report(
      own ? ['approvers', 'required'] : ['approvers'],
      `needs ${plural(required, 'approval')}${own ? '' : ' (from defaults.approvals)'}${approvers.oneMoreWhenFlagged ? ' and one more when a risk flag is raised (oneMoreWhenFlagged)' : ''} but lists only ` +
        `${plural(distinctUsers, 'user')} and no groups, so no request could ever be approved: ` +
        `add approvers or ${own ? 'lower required' : 'set approvers.required on this resource'}`,
    );
  }
  approvers.oneFrom.forEach((group, index) => {
    if (!groups.includes(group)) {
      report(['approvers', 'oneFrom', index], `${group} is not in approvers.groups: only approvers may approve, so add it there too`);
    }
  });
  return { users, groups, required, oneFrom: [...new Set(approvers.oneFrom)], ...(approvers.oneMoreWhenFlagged ? { oneMoreWhenFlagged: true } : {}), ...(onCall ? { onCall } : {}) };
}

/**
 * A machine's owner may not approve what it asks (they can drive it): the approvers left must
 * still be able to approve its requests. As for approvers.required, only what the file says is
 * judged: named users, and whether any group (other than the owner's) or on-call rule remains.
 */
function checkMachineRequestsApprovable({ requesters }: ResourceInput, approvers: ApproverPolicy, { machines, report }: ResourceContext): void {
  if (requesters === 'everyone' || machines === null) return;
  requesters.machines.forEach((machineId, index) => {
    const machine = machines.find((known) => known.id === machineId);
    if (!machine) return;
    const ownerUser = 'user' in machine.owner ? machine.owner.user : null;
    const ownerGroup = 'group' in machine.owner ? machine.owner.group : null;
    const owner = ownerUser ? `its owner ${ownerUser}` : `the members of its owner group ${ownerGroup}`;
    const where: Path = ['requesters', 'machines', index];
    if (ownerGroup && approvers.oneFrom.includes(ownerGroup)) {
      report(where, `${machineId} needs an approval from ${ownerGroup} (approvers.oneFrom), but ${owner} may not approve its requests, so they could never be approved: give the machine another owner or take ${ownerGroup} out of oneFrom`);
      return;
    }
    if (approvers.onCall || approvers.groups.some((group) => group !== ownerGroup)) return;
    const others = new Set(approvers.users.filter((user) => user !== ownerUser)).size;
    const needed = approvers.required + (approvers.oneMoreWhenFlagged ? 1 : 0);
    if (needed <= others) return;
    report(
      where,
      `${machineId}'s requests need ${plural(needed, 'approval')}${approvers.oneMoreWhenFlagged ? ' (with oneMoreWhenFlagged)' : ''}, but ${owner} may not approve them and approvers then leaves ` +
        `${plural(others, 'user')} and no groups, so they could never be approved: add approvers or give the machine another owner`,
    );
  });
}

function audienceOf(requesters: ResourceInput['requesters'] | { users: string[]; groups: string[] }): Audience {
  if (requesters === 'everyone') return { everyone: true };
  const machines = 'machines' in requesters && requesters.machines ? requesters.machines : [];
  return { everyone: false, users: requesters.users, groups: requesters.groups, ...(machines.length > 0 ? { machines } : {}) };
}

function resolveDefaultDuration(resource: ResourceInput, maxDurationSeconds: number, { defaults, report }: ResourceContext): number | null {
  const own = resource.defaultDuration;
  const value = own ?? defaults.defaultDuration;
  if (value === undefined) return null;
  if (value > maxDurationSeconds) {
    report(own === undefined ? [] : ['defaultDuration'], `${formatDuration(value)}${own === undefined ? ' (from defaults.defaultDuration)' : ''} is longer than the resource's maxDuration of ${formatDuration(maxDurationSeconds)}`);
  }
  return value;
}

function resolveReminders(resource: ResourceInput, { defaults, report }: ResourceContext): ReminderPolicy | null {
  const own = resource.reminders;
  const reminders = own ?? defaults.reminders;
  if (!reminders) return null;
  const at: Path = own ? ['reminders'] : [];
  const from = own ? '' : ' (from defaults.reminders)';
  if (reminders.escalateAfter !== undefined && reminders.escalateTo.length === 0) {
    report([...at, ...(own ? ['escalateTo'] : [])], `escalateAfter needs escalateTo: the user groups to escalate to${from}`);
  }
  if (reminders.escalateAfter === undefined && reminders.escalateTo.length > 0) {
    report([...at, ...(own ? ['escalateAfter'] : [])], `escalateTo needs escalateAfter: how long a request waits before it is escalated${from}`);
  }
  return { afterSeconds: reminders.after, escalateAfterSeconds: reminders.escalateAfter ?? null, escalateTo: [...new Set(reminders.escalateTo)] };
}

const DEFAULT_BREAK_GLASS_REMINDER_SECONDS = 60 * 60;

function resolveBreakGlass(resource: ResourceInput, maxDurationSeconds: number, { report }: ResourceContext): BreakGlassPolicy | null {
  const own = resource.breakGlass;
  if (!own) return null;
  if (own.requesters !== 'everyone' && own.requesters.users.length === 0 && own.requesters.groups.length === 0) {
    report(['breakGlass', 'requesters'], 'must list at least one user or group who may use break-glass');
  }
  // Break-glass is for people on call: a machine asks the approvers.
  if (own.requesters !== 'everyone' && own.requesters.machines.length > 0) {
    report(['breakGlass', 'requesters', 'machines'], 'machines can never use break-glass: only people (users and groups) can');
  }
  if (own.maxDuration > maxDurationSeconds) {
    report(['breakGlass', 'maxDuration'], `${formatDuration(own.maxDuration)} is longer than the resource's maxDuration of ${formatDuration(maxDurationSeconds)}`);
  }
  return {
    requesters: own.requesters === 'everyone' ? audienceOf(own.requesters) : audienceOf({ users: own.requesters.users, groups: own.requesters.groups }),
    maxDurationSeconds: own.maxDuration,
    reviewWithinSeconds: own.reviewWithin,
    remindEverySeconds: own.remindEvery ?? DEFAULT_BREAK_GLASS_REMINDER_SECONDS,
  };
}

function resolveAutoApprove(resource: ResourceInput, roles: RolePolicy[], context: ResourceContext): AutoApprovalRule[] {
  const { report } = context;
  const firstIndex = new Map<string, number>();
  return resource.autoApprove.map((rule, index) => {
    const first = firstIndex.get(rule.name);
    if (first === undefined) firstIndex.set(rule.name, index);
    else report(['autoApprove', index, 'name'], `"${rule.name}" is already the name of autoApprove[${first}]`);
    rule.roles?.forEach((role, roleIndex) => {
      if (!roles.some((known) => known.id === role)) {
        report(['autoApprove', index, 'roles', roleIndex], `the resource has no role "${role}"; its roles are ${roles.map((known) => known.id).join(', ')}`);
      }
    });
    if (rule.requesters !== 'everyone' && rule.requesters.users.length === 0 && rule.requesters.groups.length === 0 && rule.requesters.machines.length === 0) {
      report(['autoApprove', index, 'requesters'], 'must list at least one user, group or machine, or be everyone');
    }
    checkMachinesNamed(rule.requesters, ['autoApprove', index, 'requesters'], context);
    const onCall = rule.onCall ? resolveOnCall(rule.onCall, ['autoApprove', index, 'onCall'], context) : undefined;
    return {
      name: rule.name,
      roles: rule.roles ?? null,
      maxDurationSeconds: rule.maxDuration ?? null,
      requesters: audienceOf(rule.requesters),
      schedule: rule.schedule
        ? { timeZone: rule.schedule.timeZone, days: rule.schedule.days, fromMinute: rule.schedule.from, toMinute: rule.schedule.to }
        : null,
      limits: {
        cooldownSeconds: rule.cooldown ?? DEFAULT_AUTO_APPROVAL_LIMITS.cooldownSeconds,
        maxPerDay: rule.maxPerDay ?? DEFAULT_AUTO_APPROVAL_LIMITS.maxPerDay,
        startWithinSeconds: rule.startWithin ?? DEFAULT_AUTO_APPROVAL_LIMITS.startWithinSeconds,
      },
      ...(onCall ? { onCall } : {}),
    };
  });
}

/** An on-call condition must say who or what it waits for, in terms its provider knows. */
function resolveOnCall(onCall: z.infer<typeof onCallSchema>, at: Path, { report }: ResourceContext): OnCallCondition {
  if (onCall.schedules.length === 0 && onCall.escalationPolicies.length === 0 && onCall.incidentOpenOn.length === 0) {
    report(at, 'must name schedules, escalationPolicies and/or incidentOpenOn: without one it would wait for nothing');
  }
  if (onCall.provider === 'opsgenie' && onCall.escalationPolicies.length > 0) {
    report([...at, 'escalationPolicies'], "is PagerDuty's: with Opsgenie, name the schedules whose on-call people it covers");
  }
  if (onCall.provider === 'opsgenie' && onCall.maxLevel !== undefined) {
    report([...at, 'maxLevel'], "is PagerDuty's: Opsgenie's on-call answer has no escalation levels");
  }
  if (onCall.maxLevel !== undefined && onCall.schedules.length === 0 && onCall.escalationPolicies.length === 0) {
    report([...at, 'maxLevel'], 'limits whose on-call entries count: name schedules or escalationPolicies too');
  }
  return {
    provider: onCall.provider,
    schedules: [...new Set(onCall.schedules)],
    escalationPolicies: [...new Set(onCall.escalationPolicies)],
    maxLevel: onCall.maxLevel ?? null,
    incidentOpenOn: [...new Set(onCall.incidentOpenOn)],
  };
}

/** What the resource leaves unsaid comes from its provider's definition: what fits that target. */
function resolveIdentity(resource: ResourceInput, { report }: ResourceContext): IdentityPolicy {
  const own = resource.identity;
  // The schema admitted only registered types.
  const definition = providerDefinition(resource.provider.type)!;
  const defaults = definition.identityDefaults;
  if (definition.createsLogins?.(resource.provider.settings)) {
    // Latch makes the account itself (postgres `credentials: dynamic`): nobody's identity names one.
    if (own !== undefined) report(['identity'], "is not used here: with these provider settings Latch creates a login for each request and hands its credentials to the requester; remove identity");
    return { map: {}, from: defaults.from, template: defaults.template };
  }
  const identity: IdentityPolicy = {
    map: own?.map ?? {},
    from: own?.from ?? defaults.from,
    template: own?.template ?? defaults.template,
    ...(own?.domains ? { domains: [...new Set(own.domains)] } : {}),
    ...(own?.allowGuests !== undefined ? { allowGuests: own.allowGuests } : {}),
  };
  // Without a domain in the principal, ada@anything.example would become the account "ada": an
  // email anyone can set on their profile must not name somebody else's (or a service's) account.
  if (identity.from === 'email' && !identity.domains && !templateKeepsDomain(identity.template)) {
    report(
      ['identity', 'domains'],
      `is missing: the identity template "${identity.template}" leaves out the email's domain, so list the email domains ` +
        'whose people have accounts here (e.g. domains: [example.com]); an email at any other domain then gets no access',
    );
  }
  return identity;
}

/** A value the resource may set itself or inherit from defaults, one of which must. */
function inherited<T>(field: string, own: T | undefined, fallback: T | undefined, { report }: ResourceContext) {
  const value = own ?? fallback;
  if (value === undefined) {
    report([field], `is missing: set ${field} on this resource, or in defaults for every resource`);
  }
  return value;
}

function resolveResource(resource: ResourceInput, context: ResourceContext): ResourcePolicy | undefined {
  const { defaults } = context;
  const maxDurationSeconds = inherited('maxDuration', resource.maxDuration, defaults.maxDuration, context);
  const approvalChannel = inherited('approvalChannel', resource.approvalChannel, defaults.approvalChannel, context);
  const requesters = resolveRequesters(resource, context);
  const approvers = resolveApprovers(resource, context);
  checkMachineRequestsApprovable(resource, approvers, context);
  if (maxDurationSeconds === undefined || approvalChannel === undefined) return undefined;
  const roles = resolveRoles(resource, maxDurationSeconds, context);
  return {
    id: resource.id,
    name: resource.name,
    ...(resource.description === undefined ? {} : { description: resource.description }),
    provider: { type: resource.provider.type, settings: resource.provider.settings },
    identity: resolveIdentity(resource, context),
    roles,
    maxDurationSeconds,
    requesters,
    approvers,
    approvalChannel,
    pendingTimeoutSeconds: resource.pendingTimeout ?? defaults.pendingTimeout ?? DEFAULT_PENDING_TIMEOUT_SECONDS,
    ticketPattern: resource.ticketPattern ?? defaults.ticketPattern ?? null,
    minReasonLength: resource.minReasonLength ?? defaults.minReasonLength ?? 1,
    autoApprove: resolveAutoApprove(resource, roles, context),
    breakGlass: resolveBreakGlass(resource, maxDurationSeconds, context),
    reminders: resolveReminders(resource, context),
    defaultDurationSeconds: resolveDefaultDuration(resource, maxDurationSeconds, context),
    permanentHolders: [...new Set(resource.permanentHolders)],
  };
}

/** The policy's machines; undefined when they have problems (reported in `problems`). */
function resolveMachines(raw: unknown, problems: Problem[]): MachinePolicy[] | undefined {
  if (raw === undefined) return [];
  const machines = parsePart(z.array(machineSchema), raw, ['machines'], problems);
  if (!machines) return undefined;
  machines.forEach((machine, index) => {
    const first = machines.findIndex((other) => other.id === machine.id);
    if (first !== index) problems.push({ path: ['machines', index, 'id'], message: `"${machine.id}" is already the id of machines[${first}]` });
    // Rules that are the same would let every token fit both machines, and the exchange refuses those.
    const sameRules = machine.oidc ? machines.findIndex((other) => other.oidc !== undefined && sameOidcRules(other.oidc, machine.oidc!)) : index;
    if (sameRules !== index) problems.push({ path: ['machines', index, 'oidc'], message: `has the same issuer, audience and claims as machines[${sameRules}]: a token would match both, and is then refused` });
  });
  return machines.map((machine) => ({
    id: machine.id,
    ...(machine.description === undefined ? {} : { description: machine.description }),
    owner: machine.owner,
    authentication: machine.oidc ? { type: 'oidc' as const, ...machine.oidc } : { type: 'token' as const },
    account: machine.account,
  }));
}

function sameOidcRules(a: z.infer<typeof oidcSchema>, b: z.infer<typeof oidcSchema>): boolean {
  const canonical = (rules: z.infer<typeof oidcSchema>) => JSON.stringify([rules.issuer, rules.audience, Object.entries(rules.claims).map(([claim, values]) => [claim, [...values].sort()]).sort()]);
  return canonical(a) === canonical(b);
}

function parsePart<T extends z.ZodType>(schema: T, value: unknown, path: Path, problems: Problem[]) {
  const parsed = schema.safeParse(value, { error: friendlyMessage });
  if (parsed.success) return parsed.data as z.infer<T>;
  problems.push(...problemsFromZod(parsed.error, path, value));
  return undefined;
}

function buildPolicy(content: unknown, version: string): { policy?: Policy; problems: Problem[] } {
  if (content === null || content === undefined) {
    return { problems: [{ path: [], message: 'is empty: it needs at least a list of resources' }] };
  }
  const problems: Problem[] = [];
  parsePart(fileSchema, content, [], problems);
  const file = isRecord(content) ? content : {};
  const rawResources = Array.isArray(file.resources) ? file.resources : [];
  const defaults = parsePart(defaultsSchema.optional(), file.defaults, ['defaults'], problems);
  // With broken defaults, every resource that inherits them would add a misleading problem.
  const defaultsUsable = file.defaults === undefined || defaults !== undefined;
  problems.push(...duplicateResourceIds(rawResources));
  const machines = resolveMachines(file.machines, problems);
  const machineIds = machines ? new Set(machines.map((machine) => machine.id)) : null;
  const resources: ResourcePolicy[] = [];
  rawResources.forEach((raw, index) => {
    const path: Path = ['resources', index];
    const resource = parsePart(resourceSchema, raw, path, problems);
    if (resource === undefined || !defaultsUsable) return;
    const report = (field: Path, message: string) => problems.push({ path: [...path, ...field], message });
    const resolved = resolveResource(resource, { defaults: defaults ?? {}, machineIds, machines: machines ?? null, report });
    if (resolved) resources.push(resolved);
  });
  const security = parsePart(securitySchema.optional(), file.security, ['security'], problems);
  const limits = parsePart(limitsSchema.optional(), file.limits, ['limits'], problems);
  const digests = parsePart(z.array(digestSchema).optional(), file.digests, ['digests'], problems);
  digests?.forEach((digest, index) => {
    const first = digests.findIndex((other) => other.name === digest.name);
    if (first !== index) problems.push({ path: ['digests', index, 'name'], message: `"${digest.name}" is already the name of digests[${first}]` });
  });
  if (problems.length > 0) return { problems };
  const admins = security?.admins ?? { users: [], groups: [] };
  const withBreakGlass = resources.findIndex((resource) => resource.breakGlass !== null);
  if (withBreakGlass >= 0 && !security?.channel) {
    // Break-glass is announced loudly and reviewed there: without a channel nobody would see it.
    return { problems: [{ path: ['resources', rawResources.findIndex((raw) => isRecord(raw) && raw.id === resources[withBreakGlass]!.id), 'breakGlass'], message: 'needs security.channel, where break-glass use is announced and reviewed' }] };
  }
  return { policy: { version, security: { channel: security?.channel ?? null, admins }, limits: { pendingPerPerson: limits?.pendingPerPerson ?? DEFAULT_REQUEST_LIMITS.pendingPerPerson }, digests: digests ?? [], resources, machines: machines ?? [] }, problems };
}

// ---------------------------------------------------------------------------------------------
// Paths and lines

function formatPath(path: Path): string {
  return path.reduce<string>((text, segment, index) => {
    if (typeof segment === 'number') return `${text}[${segment}]`;
    return index === 0 ? segment : `${text}.${segment}`;
  }, '');
}

function nodeAt(doc: Document, path: Path): Node | undefined {
  const node: unknown = path.length === 0 ? doc.contents : doc.getIn(path, true);
  return isNode(node) ? node : undefined;
}

/** The start offset of the field's key (the line people look for), else of its value. */
function offsetOf(doc: Document, path: Path): number | undefined {
  if (path.length > 0) {
    const parent = nodeAt(doc, path.slice(0, -1));
    const key = path.at(-1);
    const pair = isMap(parent) ? parent.items.find((item) => isScalar(item.key) && item.key.value === key) : undefined;
    if (pair && isScalar(pair.key) && pair.key.range) return pair.key.range[0];
  }
  return nodeAt(doc, path)?.range?.[0];
}

/** The line of the field, or of its nearest written parent when the field is missing. */
function lineOf(doc: Document, lineCounter: LineCounter, path: Path): number {
  for (let length = path.length; length >= 0; length--) {
    const offset = offsetOf(doc, path.slice(0, length));
    if (offset !== undefined) return lineCounter.linePos(offset).line;
  }
  return 1;
}

/** `roles[1].id` reads oddly when the role was written as the bare text `- Write`: name the text. */
function displayPath(doc: Document, path: Path): string {
  const parentNode = path.length > 0 ? nodeAt(doc, path.slice(0, -1)) : undefined;
  const shown = isScalar(parentNode) ? path.slice(0, -1) : path;
  return shown.length === 0 ? 'policy file' : formatPath(shown);
}

const oneLine = (message: string) => message.replace(/\s+/g, ' ').trim();

function formatProblems(doc: Document, lineCounter: LineCounter, problems: Problem[]): string[] {
  return problems
    .map((problem) => ({
      line: lineOf(doc, lineCounter, problem.locate ?? problem.path),
      text: `${displayPath(doc, problem.path)}: ${oneLine(problem.message)}`,
    }))
    .sort((a, b) => a.line - b.line)
    .map(({ line, text }) => `${text} (line ${line})`);
}

// ---------------------------------------------------------------------------------------------
// Entry points

function syntaxMessage(error: YAMLError): string {
  // The parser's own wording for this one points at its API, not at the file.
  if (error.code === 'MULTIPLE_DOCS') return 'a line with only --- starts a second document; keep one policy per file';
  return oneLine(error.message);
}

/** Pure: YAML text → Policy. `version` is the hex SHA-256 of the text's UTF-8 bytes. */
export function parsePolicy(text: string): PolicyLoadResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    const problems = doc.errors
      .map((error) => ({ line: lineCounter.linePos(error.pos[0]).line, message: syntaxMessage(error) }))
      .sort((a, b) => a.line - b.line)
      .map(({ line, message }) => `YAML syntax: ${message} (line ${line})`);
    return { ok: false, problems };
  }
  let content: unknown;
  try {
    content = doc.toJS();
  } catch (error) {
    // Aliases are resolved here: one with no anchor, or ones that expand without bound, throw.
    const message = error instanceof Error ? error.message : String(error);
    return { ok: false, problems: [`YAML: ${oneLine(message)} (line 1)`] };
  }
  const version = createHash('sha256').update(text, 'utf8').digest('hex');
  const { policy, problems } = buildPolicy(content, version);
  if (policy) return { ok: true, policy };
  return { ok: false, problems: formatProblems(doc, lineCounter, problems) };
}

function readProblem(error: unknown): string {
  const code = isRecord(error) ? error.code : undefined;
  if (code === 'ENOENT') return 'does not exist';
  if (code === 'EISDIR') return 'is a directory, not a file';
  if (code === 'EACCES' || code === 'EPERM') return 'cannot be read: permission denied';
  return `cannot be read: ${error instanceof Error ? error.message : String(error)}`;
}

/** Reads the file and calls parsePolicy; an unreadable file is one problem naming the path. */
export async function loadPolicyFile(path: string): Promise<PolicyLoadResult> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    return { ok: false, problems: [`${path}: the policy file ${readProblem(error)}`] };
  }
  return parsePolicy(text);
}
