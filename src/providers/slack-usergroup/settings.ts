import { z } from 'zod';

/**
 * The Slack user group provider's settings in the policy file: which user group each policy role
 * puts its holders in. `usergroup` is the group for every role; `roles` maps a role id to its own
 * group and wins over `usergroup`. The bot token is not a setting: it comes from SLACK_BOT_TOKEN.
 */

/** Slack's user group ids: `S` and upper-case letters or digits (the same rule as the policy file's). */
export const USERGROUP_ID_PATTERN = /^S[A-Z0-9]{2,}$/;

// Values are not echoed: a mistaken value is shown by the line the person edited anyway.
const GROUP_ID_HINT =
  "must be a Slack user group id such as S0123ABCD, not a handle like @oncall (Slack's usergroups.list method shows it)";

const groupId = z.string({ error: (issue) => (issue.input === undefined ? 'is missing' : GROUP_ID_HINT) }).regex(USERGROUP_ID_PATTERN, { error: GROUP_ID_HINT });

export const slackUsergroupSettingsSchema = z
  .strictObject({
    usergroup: groupId.optional(),
    roles: z.record(z.string(), groupId, { error: 'must map role ids to user group ids, e.g. read: S0123ABCD' }).optional(),
  })
  .refine((settings) => settings.usergroup !== undefined || Object.keys(settings.roles ?? {}).length > 0, {
    path: ['usergroup'],
    error: 'is missing: give usergroup (one Slack user group for every role) or roles (a user group per role id)',
  });

export type SlackUsergroupSettings = z.infer<typeof slackUsergroupSettingsSchema>;
