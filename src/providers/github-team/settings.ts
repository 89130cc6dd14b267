import { z } from 'zod';

/**
 * The `settings` block of a resource whose provider is `github-team`: which team of which
 * organisation each policy role puts its holders in. `team` is the team for every role; `roles`
 * maps a role id to its own team and wins over `team`. The token is a secret, so the file names the
 * environment variable that holds it.
 */

/** How GitHub's tokens begin (classic, OAuth, app and fine-grained). */
const GITHUB_TOKEN_PREFIX = /^(?:gh[pousr]_|github_pat_)/;
const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** GitHub organisation logins: letters, digits and single hyphens, at most 39 characters. */
const ORG_PATTERN = /^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$/;
/** Team slugs as GitHub makes them from the team's name: lower-case letters, digits, - and _. */
const TEAM_SLUG_PATTERN = /^[a-z0-9][a-z0-9_-]{0,99}$/;

const TEAM_HINT = 'must be a team slug such as platform-oncall (the last part of the team’s URL), not its display name';
const teamSlug = z.string({ error: (issue) => (issue.input === undefined ? 'is missing' : TEAM_HINT) }).regex(TEAM_SLUG_PATTERN, { error: TEAM_HINT });

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

export const githubTeamSettingsSchema = z
  .strictObject({
    /** The organisation's login, e.g. acme. */
    org: z
      .string({ error: 'is missing: the GitHub organisation’s login, e.g. acme' })
      .regex(ORG_PATTERN, { error: 'must be a GitHub organisation login (letters, digits and single hyphens, at most 39 characters)' }),
    team: teamSlug.optional(),
    roles: z.record(z.string(), teamSlug, { error: 'must map role ids to team slugs, e.g. deploy: release-managers' }).optional(),
    /** Name of the environment variable holding the token, e.g. GITHUB_TEAMS_TOKEN. */
    tokenEnv: z
      .string({ error: 'is missing: name the environment variable holding the GitHub token, e.g. GITHUB_TEAMS_TOKEN' })
      .regex(ENV_NAME_PATTERN, { error: 'must be the name of an environment variable (letters, digits and _), not the token itself' })
      // GitHub's tokens (ghp_…, github_pat_…) are valid variable names too: a pasted one is refused.
      .refine((name) => !GITHUB_TOKEN_PREFIX.test(name), { error: 'must be the name of an environment variable, not the token itself' }),
    /** The REST API's root, for GitHub Enterprise Server (https://HOST/api/v3); api.github.com otherwise. */
    apiUrl: z
      .url({ error: 'must be a URL such as https://github.example.com/api/v3' })
      .refine(
        (value) => {
          const url = new URL(value);
          return url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname));
        },
        { error: 'must be an https URL: the token is sent to it' },
      )
      .optional(),
  })
  .refine((settings) => settings.team !== undefined || Object.keys(settings.roles ?? {}).length > 0, {
    path: ['team'],
    error: 'is missing: give team (one team slug for every role) or roles (a team slug per role id)',
  });

export type GithubTeamSettings = z.infer<typeof githubTeamSettingsSchema>;
