import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadPolicyFile, parsePolicy } from '../../../src/config/policy-file.ts';
import type { Policy } from '../../../src/domain/policy.ts';
import { PROVIDER_DEFINITIONS } from '../../../src/providers/registry.ts';

const EXAMPLE_PATH = fileURLToPath(new URL('../../../policy.example.yaml', import.meta.url));
const HOUR = 3600;

/** YAML from lines, so a test can say which line a problem is on by counting the array. */
const yaml = (...lines: string[]) => `${lines.join('\n')}\n`;

function policyOf(text: string): Policy {
  const result = parsePolicy(text);
  if (!result.ok) throw new Error(`expected the policy to be accepted:\n${result.problems.join('\n')}`);
  return result.policy;
}

function problemsOf(text: string): string[] {
  const result = parsePolicy(text);
  if (result.ok) throw new Error('expected the policy to be refused');
  return result.problems;
}

const HOOK_URL = 'https://hooks.example.com/latch';

// One valid resource; tests replace lines of it. Line numbers are shown on the right.
const VALID = [
  'defaults:', //                        1
  '  maxDuration: 8h', //                2
  '  approvalChannel: C0APPROVALS', //   3
  'resources:', //                       4
  '  - id: prod-db', //                  5
  '    name: Production database', //    6
  `    provider: { type: webhook, settings: { url: '${HOOK_URL}', secretEnv: HOOK_SECRET } }`, // 7
  '    permanentHolders: []', //         8 (the default: keeps the line numbers below)
  '    roles: [read]', //                9
  '    approvers:', //                  10
  '      users: [U0ALICE01]', //        11
];

/** VALID with line `number` (1-based) replaced by `replacement` (none to delete it). */
function withLine(number: number, ...replacement: string[]): string {
  const lines = [...VALID];
  lines.splice(number - 1, 1, ...replacement);
  return yaml(...lines);
}

const withExtra = (...lines: string[]) => yaml(...VALID, ...lines);

describe('policy.example.yaml', () => {
  const text = readFileSync(EXAMPLE_PATH, 'utf8');

  it('parses with no problems', () => {
    expect(parsePolicy(text)).toMatchObject({ ok: true });
  });

  it('yields its three resources, one per provider type, in file order', () => {
    const policy = policyOf(text);
    expect(policy.resources.map((resource) => [resource.id, resource.provider.type])).toEqual([
      ['prod-db', 'postgres'],
      ['oncall-admins', 'slack-usergroup'],
      ['aws-prod-admin', 'webhook'],
    ]);
    expect(PROVIDER_DEFINITIONS.map((definition) => definition.type)).toEqual(['postgres', 'mysql', 'slack-usergroup', 'webhook', 'aws-identity-center', 'github-team']);
  });

  it('shows a mysql resource, commented out, that is valid once uncommented', () => {
    const start = text.indexOf('  # - id: orders-db');
    expect(start).toBeGreaterThan(0);
    // Up to the blank line that ends it: another commented-out example follows.
    const uncommented = (text.slice(start).split('\n\n')[0] ?? '')
      .split('\n')
      .map((line) => line.replace(/^  # ?/, '  '))
      .join('\n');
    const policy = policyOf(`defaults:\n  approvalChannel: C0APPROVALS\nresources:\n${uncommented}`);
    expect(policy.resources[0]?.provider).toEqual({
      type: 'mysql',
      settings: { dialect: 'mariadb', connectionStringEnv: 'PROD_MYSQL_ADMIN_URL', accountHost: '%', roles: { read: 'orders_read' }, terminateSessions: true },
    });
  });

  it('shows an aws-identity-center resource, commented out, that is valid once uncommented', () => {
    const start = text.indexOf('  # - id: aws-prod');
    expect(start).toBeGreaterThan(0);
    const uncommented = text
      .slice(start)
      .split('\n')
      .map((line) => line.replace(/^  # ?/, '  '))
      .join('\n');
    const policy = policyOf(`defaults:\n  approvalChannel: C0APPROVALS\nresources:\n${uncommented}`);
    expect(policy.resources[0]?.provider).toEqual({
      type: 'aws-identity-center',
      settings: {
        region: 'eu-west-1',
        instanceArn: 'arn:aws:sso:::instance/ssoins-1111222233334444',
        identityStoreId: 'd-1234567890',
        matchUserBy: 'email',
        roles: { admin: { accountId: '111122223333', permissionSetArn: 'arn:aws:sso:::permissionSet/ssoins-1111222233334444/ps-1111222233334444' } },
      },
    });
  });
  it('shows a github-team resource, commented out, that is valid once uncommented', () => {
    const start = text.indexOf('  # - id: release-managers');
    expect(start).toBeGreaterThan(0);
    const uncommented = text
      .slice(start, text.indexOf('\n\n', start))
      .split('\n')
      .map((line) => line.replace(/^  # ?/, '  '))
      .join('\n');
    const policy = policyOf(`defaults:\n  approvalChannel: C0APPROVALS\nresources:\n${uncommented}`);
    expect(policy.resources[0]?.provider).toEqual({
      type: 'github-team',
      settings: { org: 'example-org', team: 'release-managers', tokenEnv: 'GITHUB_TEAMS_TOKEN' },
    });
  });

  it('keeps secrets out: settings name environment variables', () => {
    const settings = policyOf(text).resources.map((resource) => resource.provider.settings);
    expect(settings).toEqual([
      { connectionStringEnv: 'PROD_DB_ADMIN_URL' },
      { usergroup: 'S0ONCALL01' },
      { url: 'https://access-broker.internal.example.com/latch', secretEnv: 'AWS_WEBHOOK_SECRET', verifyRevocations: true },
    ]);
  });

  it('gives prod-db its own limits, a narrower write role and two approvers', () => {
    const prodDb = policyOf(text).resources[0];
    expect(prodDb).toEqual({
      id: 'prod-db',
      name: 'Production database',
      description: 'Read or write access to the production PostgreSQL',
      provider: { type: 'postgres', settings: { connectionStringEnv: 'PROD_DB_ADMIN_URL' } },
      identity: { map: { U0SRELEAD1: 'sre_lead' }, from: 'email', template: '{localpart}', domains: ['example.com'], allowGuests: false },
      roles: [
        { id: 'read', maxDurationSeconds: 4 * HOUR },
        { id: 'write', description: 'INSERT, UPDATE, DELETE', maxDurationSeconds: 1 * HOUR, lesser: ['read'] },
        {
          id: 'support',
          description: "Read one customer's data while debugging their ticket",
          maxDurationSeconds: 1 * HOUR,
          scopes: [
            { name: 'customer', description: 'The customer id from the ticket, e.g. 4711', pattern: '[0-9]{1,10}', values: null, minValues: 1, maxValues: 3 },
            { name: 'tables', description: 'Tables to read, as schema.table', pattern: null, values: ['public.orders', 'public.invoices', 'public.payments'], minValues: 0, maxValues: 2 },
          ],
          moreApprovers: [
            { when: { customer: { moreThan: 1 } }, add: 1, oneFrom: [] },
            { when: { tables: { anyOf: ['public.payments'] } }, add: 0, oneFrom: ['S0DBAS'] },
          ],
        },
      ],
      maxDurationSeconds: 4 * HOUR,
      requesters: { everyone: false, users: [], groups: ['S0ENGINEERS'] },
      approvers: { users: ['U0DBALEAD1', 'U0DBALEAD2'], groups: ['S0DBAS'], required: 2, oneFrom: ['S0DBAS'] },
      approvalChannel: 'C0DBAPPROVE',
      pendingTimeoutSeconds: 4 * HOUR,
      ticketPattern: '^(INC|CHG)-\\d+$',
      minReasonLength: 10,
      autoApprove: [
        {
          name: 'read-in-office-hours',
          roles: ['read'],
          maxDurationSeconds: HOUR,
          requesters: { everyone: false, users: [], groups: ['S0SRE'] },
          schedule: { timeZone: 'Europe/Berlin', days: ['mon', 'tue', 'wed', 'thu', 'fri'], fromMinute: 9 * 60, toMinute: 18 * 60 },
          limits: { cooldownSeconds: HOUR, maxPerDay: 3, startWithinSeconds: HOUR },
        },
        {
          name: 'read-when-on-call',
          roles: ['read'],
          maxDurationSeconds: 4 * HOUR,
          requesters: { everyone: true },
          schedule: null,
          limits: { cooldownSeconds: HOUR, maxPerDay: 3, startWithinSeconds: HOUR },
          onCall: { provider: 'pagerduty', schedules: ['PSCHED01'], escalationPolicies: ['PPOL001'], maxLevel: 2, incidentOpenOn: [] },
        },
      ],
      breakGlass: { requesters: { everyone: false, users: [], groups: ['S0ONCALL'] }, maxDurationSeconds: HOUR, reviewWithinSeconds: 4 * HOUR, remindEverySeconds: HOUR },
      reminders: { afterSeconds: 2 * HOUR, escalateAfterSeconds: 8 * HOUR, escalateTo: ['S0SECLEADS'] },
      defaultDurationSeconds: HOUR,
      permanentHolders: ['svc_reporting'],
    });
  });

  it('lets oncall-admins inherit every default', () => {
    const oncall = policyOf(text).resources[1];
    expect(oncall).toMatchObject({
      roles: [{ id: 'member', maxDurationSeconds: 8 * HOUR }],
      maxDurationSeconds: 8 * HOUR,
      requesters: { everyone: true },
      approvers: { users: [], groups: ['S0SRELEADS'], required: 1 },
      approvalChannel: 'C0APPROVALS',
      pendingTimeoutSeconds: 24 * HOUR,
    });
  });

  it('schedules a daily and a weekly digest', () => {
    expect(policyOf(text).digests).toEqual([
      { name: 'daily', schedule: '0 9 * * *', timeZone: 'Europe/Berlin', channel: 'C0SECACCESS', rubberStampUnderSeconds: 10 },
      { name: 'weekly', schedule: '0 8 * * 1', timeZone: 'Europe/Berlin', channel: 'C0SECLEADS', rubberStampUnderSeconds: 30 },
    ]);
  });

  it('records the SHA-256 of the file as the version', () => {
    expect(policyOf(text).version).toBe(createHash('sha256').update(readFileSync(EXAMPLE_PATH)).digest('hex'));
  });
});

describe('reminders', () => {
  it('are inherited from defaults, and a resource may set its own', () => {
    const text = yaml(
      'defaults:',
      '  maxDuration: 8h',
      '  approvalChannel: C0APPROVALS',
      '  reminders: { after: 1h, escalateAfter: 4h, escalateTo: [S0LEADS] }',
      'resources:',
      ...VALID.slice(4),
      ...VALID.slice(4).map((line) => line.replace('prod-db', 'staging-db')),
      '    reminders: { after: 30m }',
    );
    const [prod, staging] = policyOf(text).resources;
    expect(prod!.reminders).toEqual({ afterSeconds: HOUR, escalateAfterSeconds: 4 * HOUR, escalateTo: ['S0LEADS'] });
    expect(staging!.reminders).toEqual({ afterSeconds: 1800, escalateAfterSeconds: null, escalateTo: [] });
  });
});

describe('defaults', () => {
  it('are inherited by a resource that sets nothing itself', () => {
    const text = yaml(
      'defaults:',
      '  maxDuration: 6h',
      '  pendingTimeout: 2h',
      '  approvals: 2',
      '  approvalChannel: C0DEFAULT',
      ...VALID.slice(3),
      '      groups: [S0DBAS]',
    );
    expect(policyOf(text).resources[0]).toMatchObject({
      roles: [{ id: 'read', maxDurationSeconds: 6 * HOUR }],
      maxDurationSeconds: 6 * HOUR,
      pendingTimeoutSeconds: 2 * HOUR,
      approvers: { required: 2 },
      approvalChannel: 'C0DEFAULT',
    });
  });

  it('are overridden by what the resource sets', () => {
    const text = yaml(
      'defaults:',
      '  maxDuration: 6h',
      '  pendingTimeout: 2h',
      '  approvals: 2',
      '  approvalChannel: C0DEFAULT',
      ...VALID.slice(3, 10),
      '      users: [U0ALICE01, U0BOB0001, U0CAROL01]',
      '      required: 3',
      '    maxDuration: 30m',
      '    pendingTimeout: 15m',
      '    approvalChannel: G0PRIVATE',
    );
    expect(policyOf(text).resources[0]).toMatchObject({
      roles: [{ id: 'read', maxDurationSeconds: 1800 }],
      maxDurationSeconds: 1800,
      pendingTimeoutSeconds: 900,
      approvers: { required: 3 },
      approvalChannel: 'G0PRIVATE',
    });
  });

  it('fall back to 24h, one approval, everyone and no groups when the file sets none, and keep the settings as written', () => {
    const text = yaml(...VALID.slice(3), '    maxDuration: 1h', '    approvalChannel: C0APPROVALS');
    expect(policyOf(text).resources[0]).toEqual({
      id: 'prod-db',
      name: 'Production database',
      // As written: timeoutMs and maxAttempts are the provider's defaults to apply when it is built.
      provider: { type: 'webhook', settings: { url: HOOK_URL, secretEnv: 'HOOK_SECRET' } },
      identity: { map: {}, from: 'email', template: '{email}' },
      roles: [{ id: 'read', maxDurationSeconds: HOUR }],
      maxDurationSeconds: HOUR,
      requesters: { everyone: true },
      approvers: { users: ['U0ALICE01'], groups: [], required: 1, oneFrom: [] },
      approvalChannel: 'C0APPROVALS',
      pendingTimeoutSeconds: 24 * HOUR,
      ticketPattern: null,
      minReasonLength: 1,
      autoApprove: [],
      breakGlass: null,
      reminders: null,
      defaultDurationSeconds: null,
      permanentHolders: [],
    });
  });

  it('give auto-approval rules and each person safe limits against chaining and flooding, which the file may change', () => {
    const text = withExtra('    autoApprove:', '      - name: defaults', '      - name: own', '        cooldown: 4h', '        maxPerDay: 1', '        startWithin: 5m');
    const policy = policyOf(text);
    expect(policy.resources[0]?.autoApprove.map((rule) => rule.limits)).toEqual([
      { cooldownSeconds: HOUR, maxPerDay: 3, startWithinSeconds: HOUR },
      { cooldownSeconds: 4 * HOUR, maxPerDay: 1, startWithinSeconds: 300 },
    ]);
    expect(policy.limits).toEqual({ pendingPerPerson: 10 });
    expect(policyOf(yaml('limits:', '  pendingPerPerson: 3', ...VALID)).limits).toEqual({ pendingPerPerson: 3 });
  });

  it('read requesters as listed users and groups', () => {
    const text = withExtra('    requesters:', '      users: [W0ENTERPRISE]');
    expect(policyOf(text).resources[0]?.requesters).toEqual({ everyone: false, users: ['W0ENTERPRISE'], groups: [] });
  });
});

const USER_ID_MESSAGE =
  'must be a Slack user id such as U012ABCDEF, not a name (in Slack: profile → ⋮ → Copy member ID)';
const GROUP_ID_MESSAGE =
  "must be a Slack user group id such as S0123ABCD, not a handle like @oncall (Slack's usergroups.list method shows it)";
const CHANNEL_ID_MESSAGE =
  'must be a Slack channel id such as C0123ABCD, not a name like #approvals (in Slack: channel name → About → Channel ID)';
const ID_MESSAGE =
  'must be a lowercase id such as prod-db: up to 64 letters a-z, digits, "-", "_" or ".", starting with a letter or digit';

describe('a refused policy', () => {
  it.each([
    [
      'an unknown field, with the field it was probably meant to be',
      withExtra('    requesterz: everyone'),
      ['resources[0]: unknown field "requesterz"; did you mean "requesters"? (line 12)'],
    ],
    [
      'an unknown field nothing resembles',
      withExtra('    owner: team-data'),
      ['resources[0]: unknown field "owner" (line 12)'],
    ],
    [
      'an unknown field in defaults',
      withLine(3, '  approvalchannel: C0APPROVALS'),
      ['defaults: unknown field "approvalchannel"; did you mean "approvalChannel"? (line 3)'],
    ],
    [
      'an unknown field at the top',
      yaml(...VALID, 'version: 2'),
      ['policy file: unknown field "version" (line 12)'],
    ],
    [
      'a user name instead of an id',
      withLine(11, '      users: [U0ALICE01, alice]'),
      [`resources[0].approvers.users[1]: ${USER_ID_MESSAGE} (line 11)`],
    ],
    [
      'a lowercase user id',
      withLine(11, '      users:', '        - u0alice01'),
      [`resources[0].approvers.users[0]: ${USER_ID_MESSAGE} (line 12)`],
    ],
    [
      'a user group handle',
      withExtra('      groups: ["@oncall"]'),
      [`resources[0].approvers.groups[0]: ${GROUP_ID_MESSAGE} (line 12)`],
    ],
    [
      'a requester group handle',
      withExtra('    requesters:', '      groups: [oncall]'),
      [`resources[0].requesters.groups[0]: ${GROUP_ID_MESSAGE} (line 13)`],
    ],
    [
      'a channel name',
      withLine(3, "  approvalChannel: '#approvals'"),
      [`defaults.approvalChannel: ${CHANNEL_ID_MESSAGE} (line 3)`],
    ],
    [
      'a duration that is not one',
      withLine(2, '  maxDuration: soon'),
      ['defaults.maxDuration: "soon" is not a duration: use forms like 30m, 2h, 1d or 1h30m (line 2)'],
    ],
    [
      'a duration without a unit',
      withExtra('    pendingTimeout: 90'),
      ['resources[0].pendingTimeout: "90" has no unit: write 90m for minutes or 90h for hours (line 12)'],
    ],
    [
      'a duration under a minute',
      withExtra('    maxDuration: 30s'),
      ['resources[0].maxDuration: A duration must be at least one minute (line 12)'],
    ],
    [
      'a maxDuration neither on the resource nor in defaults',
      withLine(2),
      ['resources[0].maxDuration: is missing: set maxDuration on this resource, or in defaults for every resource (line 4)'],
    ],
    [
      'an approvalChannel neither on the resource nor in defaults',
      withLine(3),
      ['resources[0].approvalChannel: is missing: set approvalChannel on this resource, or in defaults for every resource (line 4)'],
    ],
    [
      'a role maxDuration longer than the resource allows',
      withLine(9, '    roles:', '      - read', '      - id: write', '        maxDuration: 12h'),
      ["resources[0].roles[1].maxDuration: 12h is longer than the resource's maxDuration of 8h; a role may only narrow it (line 12)"],
    ],
    [
      'a repeated role id (bare)',
      withLine(9, '    roles: [read, write, read]'),
      ['resources[0].roles[2]: "read" is already the id of roles[0] (line 9)'],
    ],
    [
      'a repeated role id (mapping)',
      withLine(9, '    roles:', '      - read', '      - id: read', '        description: again'),
      ['resources[0].roles[1].id: "read" is already the id of roles[0] (line 11)'],
    ],
    ['a role id with capitals', withLine(9, '    roles: [Read]'), [`resources[0].roles[0]: ${ID_MESSAGE} (line 9)`]],
    ['a resource id with a space', withLine(5, '  - id: prod db'), [`resources[0].id: ${ID_MESSAGE} (line 5)`]],
    [
      'no roles',
      withLine(9, '    roles: []'),
      ['resources[0].roles: must list at least one role, such as read (line 9)'],
    ],
    [
      'a name longer than Slack shows',
      withLine(6, `    name: ${'x'.repeat(76)}`),
      ["resources[0].name: must be at most 75 characters (Slack's limit for option text) (line 6)"],
    ],
    [
      'a description longer than 150 characters',
      withExtra(`    description: ${'x'.repeat(151)}`),
      ['resources[0].description: must be at most 150 characters (line 12)'],
    ],
    [
      'an unknown provider type',
      withLine(7, '    provider:', '      type: ftp'),
      ['resources[0].provider.type: must be one of postgres, mysql, slack-usergroup, webhook, aws-identity-center, github-team (line 8)'],
    ],
    [
      'provider settings that are not a mapping',
      withLine(7, '    provider:', '      type: webhook', '      settings: [a]'),
      ['resources[0].provider.settings: must be a mapping, not a list (line 9)'],
    ],
    [
      'a provider without its type',
      withLine(7, '    provider:', '      settings: { secretEnv: HOOK_SECRET }'),
      ['resources[0].provider.type: must be one of postgres, mysql, slack-usergroup, webhook, aws-identity-center, github-team (line 7)'],
    ],
    [
      'a postgres provider without its connection string variable',
      withLine(7, '    provider:', '      type: postgres', '      settings: { terminateSessions: false }'),
      ['resources[0].provider.settings.connectionStringEnv: is missing: name the environment variable holding the connection string, e.g. PROD_DB_ADMIN_URL (line 9)'],
    ],
    [
      'a postgres setting of the wrong type, and one misspelt',
      withLine(7, '    provider:', '      type: postgres', '      settings:', '        connectionStringEnv: PROD_DB_URL', '        terminateSessions: sometimes', '        role: { read: app_read }'),
      [
        'resources[0].provider.settings.terminateSessions: must be true or false (line 11)',
        'resources[0].provider.settings: unknown field "role"; did you mean "roles"? (line 12)',
      ],
    ],
    [
      'a postgres connection string where its variable belongs',
      withLine(7, '    provider: { type: postgres, settings: { connectionStringEnv: "postgresql://grantor:pw@db/app" } }'),
      ['resources[0].provider.settings.connectionStringEnv: must be the name of an environment variable (letters, digits and _), not the connection string itself (line 7)'],
    ],
    [
      'a slack-usergroup provider with neither usergroup nor roles',
      withLine(7, '    provider:', '      type: slack-usergroup', '      settings: {}'),
      ['resources[0].provider.settings.usergroup: is missing: give usergroup (one Slack user group for every role) or roles (a user group per role id) (line 9)'],
    ],
    [
      'a slack-usergroup handle instead of an id, and a setting it does not have',
      withLine(7, '    provider:', '      type: slack-usergroup', '      settings:', '        usergroup: "@oncall"', '        channel: C0ONCALL'),
      [
        "resources[0].provider.settings.usergroup: must be a Slack user group id such as S0123ABCD, not a handle like @oncall (Slack's usergroups.list method shows it) (line 10)",
        'resources[0].provider.settings: unknown field "channel" (line 11)',
      ],
    ],
    [
      'a webhook provider without its settings',
      withLine(7, '    provider: { type: webhook }'),
      ['resources[0].provider.settings.url: is missing (line 7)', 'resources[0].provider.settings.secretEnv: is missing (line 7)'],
    ],
    [
      'a webhook timeout of the wrong type, and a secret where its variable belongs',
      withLine(7, '    provider:', '      type: webhook', '      settings:', `        url: ${HOOK_URL}`, '        secretEnv: HOOK_SECRET', '        timeoutMs: 5s', '        secret: s3cret'),
      [
        'resources[0].provider.settings.timeoutMs: must be a whole number of milliseconds from 100 to 60000 (line 12)',
        // The value is not quoted: it may be the secret itself.
        'resources[0].provider.settings: unknown field "secret" (line 13)',
      ],
    ],
    [
      'approvers that list nobody',
      withLine(11, '      groups: []'),
      ['resources[0].approvers: must list at least one user or group who may approve (line 10)'],
    ],
    [
      'approvers missing',
      yaml(...VALID.slice(0, 9)),
      ['resources[0].approvers: is missing: list who may approve, with users and/or groups (line 5)'],
    ],
    [
      'more required approvals than listed users',
      withExtra('      required: 2'),
      [
        'resources[0].approvers.required: needs 2 approvals but lists only 1 user and no groups, so no request could ever be approved: add approvers or lower required (line 12)',
      ],
    ],
    [
      'one more approval for a risk flag than listed users can give',
      withExtra('      oneMoreWhenFlagged: true'),
      [
        'resources[0].approvers: needs 1 approval (from defaults.approvals) and one more when a risk flag is raised (oneMoreWhenFlagged) but lists only 1 user and no groups, so no request could ever be approved: add approvers or set approvers.required on this resource (line 10)',
      ],
    ],
    [
      'oneMoreWhenFlagged that is not a yes/no',
      withExtra('      oneMoreWhenFlagged: sometimes'),
      ['resources[0].approvers.oneMoreWhenFlagged: must be true or false (line 12)'],
    ],
    [
      'more default approvals than a resource lists users',
      withLine(3, '  approvalChannel: C0APPROVALS', '  approvals: 3'),
      [
        'resources[0].approvers: needs 3 approvals (from defaults.approvals) but lists only 1 user and no groups, so no request could ever be approved: add approvers or set approvers.required on this resource (line 11)',
      ],
    ],
    [
      'required that is not a whole number',
      withExtra('      required: 1.5'),
      ['resources[0].approvers.required: must be a whole number, 1 or more (line 12)'],
    ],
    [
      'required zero',
      withExtra('      required: 0'),
      ['resources[0].approvers.required: must be a whole number, 1 or more (line 12)'],
    ],
    [
      'requesters that list nobody',
      withExtra('    requesters: {}'),
      ['resources[0].requesters: must list at least one user, group or machine, or be everyone (line 12)'],
    ],
    [
      'requesters that are neither',
      withExtra('    requesters: anyone'),
      ['resources[0].requesters: must be everyone, or a mapping with users, groups and/or machines (line 12)'],
    ],
    [
      'an empty field',
      withExtra('    description:'),
      ['resources[0].description: is empty: give it a value or remove the line (line 12)'],
    ],
    [
      'a field of the wrong type',
      withLine(6, '    name: [Production]'),
      ['resources[0].name: must be text, not a list (line 6)'],
    ],
    [
      'no resources',
      yaml(...VALID.slice(0, 3), 'resources: []'),
      ['resources: is empty: list at least one resource people can request (line 4)'],
    ],
    [
      'resources missing',
      yaml(...VALID.slice(0, 3)),
      ['resources: is missing: list at least one resource people can request (line 1)'],
    ],
    [
      'a ticket pattern that is not a regular expression',
      withExtra("    ticketPattern: '^(SEC-'"),
      ['resources[0].ticketPattern: is not a valid regular expression: /^(SEC-/u: Unterminated group (line 12)'],
    ],
    [
      'a minimum reason length of zero',
      withLine(3, '  approvalChannel: C0APPROVALS', '  minReasonLength: 0'),
      ['defaults.minReasonLength: must be at least 1: a reason is always required (line 4)'],
    ],
    [
      'a oneFrom group that cannot approve',
      withExtra('      oneFrom: [S0SECURITY]'),
      ['resources[0].approvers.oneFrom[0]: S0SECURITY is not in approvers.groups: only approvers may approve, so add it there too (line 12)'],
    ],
    [
      'an auto-approval rule for a role the resource does not have',
      withExtra('    autoApprove:', '      - name: low-risk', '        roles: [write]'),
      ['resources[0].autoApprove[0].roles[0]: the resource has no role "write"; its roles are read (line 14)'],
    ],
    [
      'an auto-approval rule without a name',
      withExtra('    autoApprove:', '      - maxDuration: 1h'),
      ['resources[0].autoApprove[0].name: is missing: name the rule, such as read-in-office-hours: it is shown as the decider (line 13)'],
    ],
    [
      'two auto-approval rules with one name',
      withExtra('    autoApprove:', '      - name: low-risk', '      - name: low-risk'),
      ['resources[0].autoApprove[1].name: "low-risk" is already the name of autoApprove[0] (line 14)'],
    ],
    [
      'a schedule in a time zone that does not exist',
      withExtra('    autoApprove:', '      - name: office', '        schedule: { timeZone: Europe/Atlantis, from: "09:00", to: "17:00" }'),
      ['resources[0].autoApprove[0].schedule.timeZone: must be an IANA time zone such as Europe/Berlin, America/New_York or UTC (line 14)'],
    ],
    [
      'a schedule with a time that is not one, and a day misspelt',
      withExtra('    autoApprove:', '      - name: office', '        schedule: { timeZone: UTC, days: [monday], from: "9am", to: "17:00" }'),
      [
        'resources[0].autoApprove[0].schedule.days[0]: must be one of mon, tue, wed, thu, fri, sat, sun (line 14)',
        'resources[0].autoApprove[0].schedule.from: must be a time of day such as 09:00 (24-hour, hh:mm) (line 14)',
      ],
    ],
    [
      'an auto-approval daily cap of none, and a cooldown without a unit',
      withExtra('    autoApprove:', '      - name: office', '        maxPerDay: 0', '        cooldown: 30'),
      [
        'resources[0].autoApprove[0].maxPerDay: must be a whole number, 1 or more (line 14)',
        'resources[0].autoApprove[0].cooldown: "30" has no unit: write 30m for minutes or 30h for hours (line 15)',
      ],
    ],
    [
      'a pending limit of zero',
      yaml('limits: { pendingPerPerson: 0 }', ...VALID),
      ['limits.pendingPerPerson: must be a whole number, 1 or more (line 1)'],
    ],
    [
      'a misspelt auto-approval field',
      withExtra('    autoApprove:', '      - name: office', '        maxDuraton: 1h'),
      ['resources[0].autoApprove[0]: unknown field "maxDuraton"; did you mean "maxDuration"? (line 14)'],
    ],
    [
      'break-glass without a security channel to announce it in',
      withExtra('    breakGlass: { requesters: { groups: [S0ONCALL] }, maxDuration: 1h, reviewWithin: 4h }'),
      ['resources[0].breakGlass: needs security.channel, where break-glass use is announced and reviewed (line 12)'],
    ],
    [
      'break-glass without a review time',
      withExtra('    breakGlass: { requesters: everyone, maxDuration: 1h }'),
      ['resources[0].breakGlass.reviewWithin: is missing: give a duration such as 30m, 2h or 1d (line 12)'],
    ],
    [
      'break-glass longer than the resource allows',
      yaml('security: { channel: C0SECURITY }', ...VALID, '    breakGlass: { requesters: everyone, maxDuration: 12h, reviewWithin: 1h }'),
      ["resources[0].breakGlass.maxDuration: 12h is longer than the resource's maxDuration of 8h (line 13)"],
    ],
    [
      'an escalation time without groups to escalate to',
      withExtra('    reminders: { after: 1h, escalateAfter: 4h }'),
      ['resources[0].reminders.escalateTo: escalateAfter needs escalateTo: the user groups to escalate to (line 12)'],
    ],
    [
      'escalation groups without a time',
      withLine(3, '  approvalChannel: C0APPROVALS', '  reminders: { after: 1h, escalateTo: [S0LEADS] }'),
      ['resources[0]: escalateTo needs escalateAfter: how long a request waits before it is escalated (from defaults.reminders) (line 6)'],
    ],
    [
      'a default duration longer than the maximum',
      withExtra('    defaultDuration: 9h'),
      ["resources[0].defaultDuration: 9h is longer than the resource's maxDuration of 8h (line 12)"],
    ],
    [
      'a digest schedule that is not a cron expression',
      yaml('digests:', '  - { name: daily, schedule: "every morning", channel: C0SEC }', ...VALID),
      ['digests[0].schedule: is not a cron expression such as "0 9 * * 1" (09:00 on Mondays): Validation error, cannot resolve alias "eve" (line 2)'],
    ],
    [
      'a rubber-stamp threshold of nothing',
      yaml('digests:', '  - { name: daily, schedule: "0 9 * * *", channel: C0SEC, rubberStampUnder: 0s }', ...VALID),
      ['digests[0].rubberStampUnder: A duration must be at least 1s (line 2)'],
    ],
    [
      'a rubber-stamp threshold too long to mean anything',
      yaml('digests:', '  - { name: daily, schedule: "0 9 * * *", channel: C0SEC, rubberStampUnder: 1h }', ...VALID),
      ['digests[0].rubberStampUnder: must be at most 10m: it is how soon an approval is too quick to have been read, such as 10s (line 2)'],
    ],
    [
      'a rubber-stamp threshold without a unit',
      yaml('digests:', '  - { name: daily, schedule: "0 9 * * *", channel: C0SEC, rubberStampUnder: 10 }', ...VALID),
      ['digests[0].rubberStampUnder: "10" has no unit: write 10s for seconds (line 2)'],
    ],
    [
      'a repeated digest name',
      yaml('digests:', '  - { name: weekly, schedule: "0 8 * * 1", channel: C0SEC }', '  - { name: weekly, schedule: "0 9 * * 1", channel: C0SEC }', ...VALID),
      ['digests[1].name: "weekly" is already the name of digests[0] (line 3)'],
    ],
    ['an empty file', '', ['policy file: is empty: it needs at least a list of resources (line 1)']],
    [
      'a list instead of a mapping',
      yaml('- prod-db'),
      ['policy file: must be a mapping with defaults, security, digests and resources (line 1)'],
    ],
  ])('names %s in one line', (_, text, expected) => {
    expect(problemsOf(text)).toEqual(expected);
  });

  it('reports a repeated resource id on the second occurrence', () => {
    const text = yaml(...VALID, ...VALID.slice(4));
    expect(problemsOf(text)).toEqual(['resources[1].id: "prod-db" is already the id of resources[0] (line 12)']);
  });

  it('does not silently ignore a misspelt approvers', () => {
    expect(problemsOf(withLine(10, '    aprovers:'))).toEqual([
      'resources[0].approvers: is missing: list who may approve, with users and/or groups (line 5)',
      'resources[0]: unknown field "aprovers"; did you mean "approvers"? (line 10)',
    ]);
  });

  it('lists every problem at once, sorted by line', () => {
    const text = yaml(
      'resources:',
      '  - id: b',
      '    name: B',
      `    provider: {type: webhook, settings: {url: '${HOOK_URL}', secretEnv: HOOK_SECRET}}`,
      '    roles: [a]',
      '    approvers: {users: [bob]}',
      '    maxDuration: 1h',
      '    approvalChannel: C0B',
      '  - id: A',
      '    name: A',
      '    provider: {type: ftp}',
      '    roles: [a]',
      '    approvers: {users: [U0ALICE01]}',
      '    maxDuration: forever',
      '    approvalChannel: C0A',
    );
    expect(problemsOf(text)).toEqual([
      `resources[0].approvers.users[0]: ${USER_ID_MESSAGE} (line 6)`,
      `resources[1].id: ${ID_MESSAGE} (line 9)`,
      'resources[1].provider.type: must be one of postgres, mysql, slack-usergroup, webhook, aws-identity-center, github-team (line 11)',
      'resources[1].maxDuration: "forever" is not a duration: use forms like 30m, 2h, 1d or 1h30m (line 14)',
    ]);
  });

  it('does not blame every resource for broken defaults', () => {
    expect(problemsOf(withLine(2, '  maxDuration: 8'))).toEqual([
      'defaults.maxDuration: "8" has no unit: write 8m for minutes or 8h for hours (line 2)',
    ]);
  });

  it.each([
    ['an unclosed flow list', withLine(11, '      users: [U0ALICE01'), /^YAML syntax: .+ \(line 1[12]\)$/],
    ['a repeated key', withExtra('    name: Again'), /^YAML syntax: Map keys must be unique \(line 12\)$/],
    [
      'a second document',
      yaml(...VALID, '---', ...VALID),
      /^YAML syntax: a line with only --- starts a second document; keep one policy per file \(line 12\)$/,
    ],
    [
      'a tab for indentation',
      withLine(6, '\tname: Production database'),
      /^YAML syntax: Tabs are not allowed as indentation \(line 6\)$/,
    ],
  ])('reports a YAML syntax error (%s) with its line', (_, text, first) => {
    const problems = problemsOf(text);
    expect(problems[0]).toMatch(first);
    for (const problem of problems) expect(problem).toMatch(/^YAML syntax: [^\n]+ \(line \d+\)$/);
  });

  it.each([
    ['a scalar', 'just some text'],
    ['a number', '42'],
    ['resources as a number', 'resources: 5'],
    ['a resource that is text', 'resources: [prod-db]'],
    ['an undefined alias', 'resources: [*nowhere]'],
    [
      'an alias bomb',
      yaml(
        'a: &a [x, x, x, x, x, x, x, x, x, x]',
        'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]',
        'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]',
        'd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]',
      ),
    ],
  ])('refuses %s without throwing, in one-line problems with a line', (_, text) => {
    const problems = problemsOf(text);
    expect(problems.length).toBeGreaterThan(0);
    for (const problem of problems) expect(problem).toMatch(/^[^\n]+ \(line \d+\)$/);
  });
});

describe('version', () => {
  const text = yaml(...VALID);

  it('is the hex SHA-256 of the UTF-8 bytes', () => {
    expect(policyOf(text).version).toBe(createHash('sha256').update(Buffer.from(text, 'utf8')).digest('hex'));
  });

  it('is stable for the same text and changes with any edit, even a comment', () => {
    expect(policyOf(text).version).toBe(policyOf(text).version);
    expect(policyOf(`${text}# reviewed by security\n`).version).not.toBe(policyOf(text).version);
  });
});

describe('loadPolicyFile', () => {
  it('reads and parses the file', async () => {
    expect(await loadPolicyFile(EXAMPLE_PATH)).toEqual(parsePolicy(readFileSync(EXAMPLE_PATH, 'utf8')));
  });

  it('gives one problem naming a path that does not exist', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'latch-policy-')), 'missing.yaml');
    expect(await loadPolicyFile(path)).toEqual({ ok: false, problems: [`${path}: the policy file does not exist`] });
  });

  it('gives one problem naming a directory', async () => {
    const path = mkdtempSync(join(tmpdir(), 'latch-policy-'));
    expect(await loadPolicyFile(path)).toEqual({ ok: false, problems: [`${path}: the policy file is a directory, not a file`] });
  });
});

describe('identity', () => {
  const SETTINGS: Record<string, string> = {
    postgres: '{ connectionStringEnv: DB_URL }',
    'slack-usergroup': '{ usergroup: S0ONCALL }',
    webhook: `{ url: '${HOOK_URL}', secretEnv: HOOK_SECRET }`,
  };
  const resource = (provider: string, identity = '') =>
    ['resources:', '  - id: r', '    name: R', `    provider: { type: ${provider}, settings: ${SETTINGS[provider]} }`, '    roles: [read]', '    maxDuration: 1h',
      '    approvers: { users: [U0A] }', '    approvalChannel: C0A', identity].join('\n');

  it.each([
    ['webhook', { map: {}, from: 'email', template: '{email}' }],
    ['slack-usergroup', { map: {}, from: 'slack-user-id', template: '{email}' }],
  ])('defaults to what fits a %s provider', (provider, identity) => {
    const result = parsePolicy(resource(provider));
    expect(result.ok && result.policy.resources[0]!.identity).toEqual(identity);
  });

  it('reads an explicit map, source and template', () => {
    const result = parsePolicy(resource('postgres', '    identity: { from: map-only, template: "db_{localpart}", map: { U0ALICE: alice } }'));
    expect(result.ok && result.policy.resources[0]!.identity).toEqual({ map: { U0ALICE: 'alice' }, from: 'map-only', template: 'db_{localpart}' });
  });

  it('defaults to {localpart} for a postgres provider, which needs the email domains it may come from', () => {
    const result = parsePolicy(resource('postgres', '    identity: { domains: [Example.COM, corp.example] }'));
    expect(result.ok && result.policy.resources[0]!.identity).toEqual({ map: {}, from: 'email', template: '{localpart}', domains: ['example.com', 'corp.example'] });
  });

  it.each([
    ['no identity at all', ''],
    ['a template that leaves out the domain', '    identity: { template: "jit_{localpart}" }'],
  ])('refuses a postgres resource with %s and no email domains, naming identity.domains', (_name, line) => {
    expect(parsePolicy(resource('postgres', line))).toEqual({
      ok: false,
      problems: [expect.stringMatching(/^resources\[0\]\.identity\.domains: is missing: the identity template "(jit_)?\{localpart\}" leaves out the email's domain, so list the email domains .* \(line \d+\)$/)],
    });
  });

  it.each([
    ['the template keeps the domain', '    identity: { template: "{email}" }'],
    ['the identity is not the email', '    identity: { from: slack-user-id }'],
    ['the identity is mapped only', '    identity: { from: map-only, map: { U0ALICE: alice } }'],
  ])('needs no email domains when %s', (_name, line) => {
    expect(parsePolicy(resource('postgres', line))).toMatchObject({ ok: true });
  });

  it('needs no identity for a postgres resource that creates a login per request, and says so when one is given', () => {
    const dynamic = (identity = '') => resource('postgres', identity).replace('{ connectionStringEnv: DB_URL }', '{ connectionStringEnv: DB_URL, credentials: dynamic }');
    expect(parsePolicy(dynamic())).toMatchObject({ ok: true });
    expect(parsePolicy(dynamic('    identity: { domains: [example.com] }'))).toEqual({
      ok: false,
      problems: [expect.stringMatching(/^resources\[0\]\.identity: is not used here: with these provider settings Latch creates a login for each request .*remove identity \(line 9\)$/)],
    });
  });

  it('reads uses: 1 on a role of a resource that creates logins, and refuses it elsewhere or with another count', () => {
    const dynamic = (roles: string) => resource('postgres').replace('{ connectionStringEnv: DB_URL }', '{ connectionStringEnv: DB_URL, credentials: dynamic }').replace('    roles: [read]', roles);
    const single = parsePolicy(dynamic('    roles: [read, { id: deploy, uses: 1 }]'));
    expect(single.ok && single.policy.resources[0]!.roles).toEqual([
      { id: 'read', maxDurationSeconds: 3600 },
      { id: 'deploy', maxDurationSeconds: 3600, uses: 1 },
    ]);
    expect(parsePolicy(dynamic('    roles: [{ id: deploy, uses: 2 }]'))).toEqual({ ok: false, problems: [expect.stringMatching(/^resources\[0\]\.roles\[0\]\.uses: must be 1 \(single-use access: one session\)/)] });
    const granted = parsePolicy(resource('webhook').replace('    roles: [read]', '    roles: [{ id: read, uses: 1 }]'));
    expect(granted).toEqual({ ok: false, problems: [expect.stringMatching(/^resources\[0\]\.roles\[0\]\.uses: needs provider settings that create a login per request/)] });
  });

  it('names a dynamic-credentials setting given without credentials: dynamic', () => {
    const result = parsePolicy(resource('postgres', '    identity: { domains: [example.com] }').replace('{ connectionStringEnv: DB_URL }', '{ connectionStringEnv: DB_URL, connectionLimit: 3 }'));
    expect(result).toEqual({ ok: false, problems: [expect.stringMatching(/^resources\[0\]\.provider\.settings\.connectionLimit: applies only with credentials: dynamic/)] });
  });

  it('reads a postgres resource\'s rowScopes, and refuses a table, column or scope name that is not a plain identifier', () => {
    const scoped = (rowScopes: string) => resource('postgres', '    identity: { domains: [example.com] }').replace('{ connectionStringEnv: DB_URL }', `{ connectionStringEnv: DB_URL, rowScopes: ${rowScopes} }`);
    expect(parsePolicy(scoped('{ customer: [{ table: public.orders, column: customer_id }] }'))).toMatchObject({ ok: true });
    expect(parsePolicy(scoped('{ customer: [{ table: "orders; DROP TABLE x", column: customer_id }] }'))).toEqual({
      ok: false,
      problems: [expect.stringMatching(/^resources\[0\]\.provider\.settings\.rowScopes\.customer\[0\]: table .* must be \[schema\.\]table/)],
    });
    expect(parsePolicy(scoped('{ customer: [] }'))).toEqual({ ok: false, problems: [expect.stringMatching(/rowScopes\.customer: must name at least one table column/)] });
  });

  it("reads a postgres resource's tableGrants and scopeValues, and names each bad one with its path and line", () => {
    const scoped = (extra: string) => resource('postgres', '    identity: { domains: [example.com] }').replace('{ connectionStringEnv: DB_URL }', `{ connectionStringEnv: DB_URL, ${extra} }`);
    const grants = (body: string) => scoped(`rowScopes: { customer: [{ table: public.orders, column: customer_id }] }, tableGrants: ${body}`);
    const valid = grants('{ scope: tables, tables: [public.orders, sales.invoices], privileges: { read: [SELECT], write: [SELECT, INSERT, UPDATE] } }, scopeValues: { customer: "SELECT id::text FROM customers" }');
    expect(parsePolicy(valid)).toMatchObject({ ok: true });
    const problems = (text: string) => {
      const result = parsePolicy(text);
      return result.ok ? [] : result.problems;
    };
    expect(problems(grants('{ scope: tables, tables: ["public.orders; DROP TABLE x", orders], privileges: { read: [SELECT] } }'))).toEqual([
      expect.stringMatching(/^resources\[0\]\.provider\.settings\.tableGrants\.tables\[0\]: must be schema\.table in lower case .*\(line \d+\)$/),
      expect.stringMatching(/^resources\[0\]\.provider\.settings\.tableGrants\.tables\[1\]: must be schema\.table in lower case .*\(line \d+\)$/),
    ]);
    expect(problems(grants('{ scope: tables, tables: [public.orders], privileges: { read: [SELECT, TRUNCATE] } }'))).toEqual([
      expect.stringMatching(/^resources\[0\]\.provider\.settings\.tableGrants\.privileges\.read\[1\]: must be one of SELECT, INSERT, UPDATE, DELETE \(line \d+\)$/),
    ]);
    expect(problems(grants('{ scope: customer, tables: [public.orders], privileges: { read: [SELECT] } }'))).toEqual([
      expect.stringMatching(/^resources\[0\]\.provider\.settings\.tableGrants\.scope: is also a row scope/),
    ]);
    expect(problems(scoped('rowScopes: { customer: [{ table: public.orders, column: customer_id }] }, scopeValues: { region: "SELECT 1", customer: "SELECT 1; DROP TABLE customers" }'))).toEqual([
      expect.stringMatching(/^resources\[0\]\.provider\.settings\.scopeValues\.customer: must be one query, without ;/),
      expect.stringMatching(/^resources\[0\]\.provider\.settings\.scopeValues\.region: is neither a row scope \(rowScopes\) nor the tableGrants scope/),
    ]);
    expect(problems(scoped('terminateSessions: false, rowScopes: { customer: [{ table: public.orders, column: customer_id }] }'))).toEqual([
      expect.stringMatching(/^resources\[0\]\.provider\.settings\.terminateSessions: must be true with rowScopes or tableGrants/),
    ]);
  });

  it('reads allowGuests, and leaves guests out unless it is true', () => {
    const allowed = parsePolicy(resource('webhook', '    identity: { allowGuests: true }'));
    expect(allowed.ok && allowed.policy.resources[0]!.identity.allowGuests).toBe(true);
    const unsaid = parsePolicy(resource('webhook'));
    expect(unsaid.ok && unsaid.policy.resources[0]!.identity.allowGuests).toBeUndefined();
  });

  it.each([
    ['    identity: { domains: [] }', 'resources[0].identity.domains: must list at least one email domain, such as example.com (line 9)'],
    ['    identity: { domains: ["@example.com"] }', 'resources[0].identity.domains[0]: must be an email domain such as example.com, without @ or wildcards (line 9)'],
    ['    identity: { domains: ["*.example.com"] }', 'resources[0].identity.domains[0]: must be an email domain such as example.com, without @ or wildcards (line 9)'],
    ['    identity: { allowGuests: sometimes }', 'resources[0].identity.allowGuests: must be true or false (line 9)'],
    ['    identity: { from: ldap }', 'resources[0].identity.from: must be one of slack-user-id, email, map-only (line 9)'],
    ['    identity: { template: "{name}" }', 'resources[0].identity.template: may only use {email}, {localpart} and {domain} (line 9)'],
  ])('refuses %s', (line, problem) => {
    expect(parsePolicy(resource('postgres', line))).toEqual({ ok: false, problems: [problem] });
  });
});

describe('lesser roles (approve with changes)', () => {
  const withRoles = (...lines: string[]) => withLine(9, '    roles:', ...lines);

  it('are kept as listed, once each', () => {
    const [resource] = policyOf(withRoles('      - read', '      - id: write', '        lesser: [read, read]')).resources;
    expect(resource!.roles).toEqual([{ id: 'read', maxDurationSeconds: 8 * HOUR }, { id: 'write', maxDurationSeconds: 8 * HOUR, lesser: ['read'] }]);
  });

  it.each([
    ['a role the resource does not have', ['      - read', '      - id: write', '        lesser: [reed]'], '"reed" is not a role of this resource (roles: read, write)'],
    ['the role itself', ['      - id: write', '        lesser: [write]'], '"write" is this role itself'],
    ['a loop', ['      - id: read', '        lesser: [admin]', '      - id: write', '        lesser: [read]', '      - id: admin', '        lesser: [write]'], 'the roles must not form a loop'],
    ['an empty list', ['      - read', '      - id: write', '        lesser: []'], 'must list at least one role, or leave lesser out'],
  ])('refuse %s', (_what, lines, expected) => {
    expect(problemsOf(withRoles(...lines)).join('\n')).toContain(expected);
  });
});
