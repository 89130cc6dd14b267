import { accessSync, constants, statSync } from 'node:fs';
import { z } from 'zod';
import { DEFAULT_MAX_WAITING_LOGINS } from '../domain/cli-login.ts';
import { hashTaggedPrefixFor, hashTagOf, redisClusterUrlProblem, splitRedisUrls } from './redis-cluster.ts';

/**
 * Every environment variable Latch reads, and what it is for. The descriptions are shown to the
 * person whose variable is missing, and a test checks that `.env.example` documents each one.
 */
export const ENV_VARIABLES = {
  DATABASE_URL: 'the PostgreSQL connection string, e.g. postgresql://latch@localhost:5432/latch',
  REDIS_URL: 'the Redis connection string, e.g. redis://localhost:6379',
  REDIS_CLUSTER: 'true when REDIS_URL names the seed nodes of a Redis Cluster (comma-separated); default false',
  LATCH_QUEUE_PREFIX: "the prefix of Latch's keys in Redis; default latch; with REDIS_CLUSTER=true it needs a {hash tag}, e.g. {latch}",
  SLACK_BOT_TOKEN: "the Slack app's bot token (starts with xoxb-)",
  SLACK_SIGNING_SECRET: "the Slack app's signing secret (Basic Information → App Credentials)",
  SLACK_APP_TOKEN: 'an app-level token for Socket Mode (starts with xapp-); optional',
  LATCH_POLICY_FILE: 'the path of the policy file (YAML); default policy.yaml',
  PORT: 'the HTTP port for Slack requests; default 3000',
  LOG_LEVEL: 'one of fatal, error, warn, info, debug, trace, silent; default info',
  SLACK_API_URL: "the base URL of Slack's Web API, for tests against a fake; default https://slack.com/api/",
  LATCH_SHUTDOWN_TIMEOUT_SECONDS: 'how long running work may take to finish after SIGTERM, in whole seconds; default 25',
  LATCH_MAX_SLACK_WORK: "Slack requests' work a process takes on at once before it answers 'busy'; default 256",
  LATCH_REVOKE_CONCURRENCY: 'revocations each worker process runs at once (each holds a PostgreSQL connection for its access lock while it runs); default 10',
  LATCH_TRUSTED_PROXY_HOPS: 'how many reverse proxies in front of Latch append to X-Forwarded-For, so limits per address see the caller; default 0 (the TCP peer)',
  LATCH_MAX_WAITING_LOGINS: "how many `latch login`s may wait to be confirmed at once, in all, before POST /api/v1/logins refuses new ones; default 200",
  PAGERDUTY_API_KEY: 'a PagerDuty REST API key (read-only is enough), for auto-approval rules with onCall; optional',
  PAGERDUTY_API_URL: "PagerDuty's REST API base URL, for tests against a fake; default https://api.pagerduty.com",
  OPSGENIE_API_KEY: 'the key of an Opsgenie API integration with Read access, for onCall rules with provider opsgenie; optional',
  OPSGENIE_API_URL: "Opsgenie's REST API base URL; default https://api.opsgenie.com (https://api.eu.opsgenie.com for the EU instance)",
  LATCH_APP_ROLE: "latch migrate only: the role the service connects as, granted prisma/app-role.sql's privileges after migrating; optional",
} as const;

export type EnvVariable = keyof typeof ENV_VARIABLES;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

// An empty value in a .env file or a compose file means "not set", not "set to nothing".
const blankAsMissing = (value: unknown) =>
  typeof value === 'string' && value.trim() === '' ? undefined : value;

function required(name: EnvVariable) {
  return z.string({
    error: (issue) =>
      issue.input === undefined ? `is missing: set it to ${ENV_VARIABLES[name]}` : 'must be text',
  });
}

// Values are never echoed back in messages: a connection string or a token is a secret.
function connectionUrl(name: EnvVariable, protocols: readonly string[]) {
  return z.preprocess(
    blankAsMissing,
    required(name).refine(
      (value) => {
        try {
          return protocols.includes(new URL(value).protocol);
        } catch {
          return false;
        }
      },
      { error: `is not a valid ${protocols.map((p) => `${p}//`).join(' or ')} URL: expected ${ENV_VARIABLES[name]}` },
    ),
  );
}

function token(name: EnvVariable, prefix: string) {
  return required(name).refine((value) => value.startsWith(prefix) && !/\s/.test(value), {
    error: `does not look like ${ENV_VARIABLES[name]}`,
  });
}

const databaseUrl = connectionUrl('DATABASE_URL', ['postgresql:', 'postgres:']);

const REDIS_PROTOCOLS = ['redis:', 'rediss:'];

/** One redis:// URL, or several separated by commas (a cluster's seed nodes, checked with REDIS_CLUSTER). */
const redisUrl = z.preprocess(
  blankAsMissing,
  required('REDIS_URL').refine(
    (value) => {
      const urls = splitRedisUrls(value);
      return (
        urls.length > 0 &&
        urls.every((url) => {
          try {
            return REDIS_PROTOCOLS.includes(new URL(url).protocol);
          } catch {
            return false;
          }
        })
      );
    },
    { error: `is not a valid redis:// or rediss:// URL (or, for a Redis Cluster, a list of them separated by commas): expected ${ENV_VARIABLES.REDIS_URL}` },
  ),
);

const redisCluster = z.preprocess(
  (value) => (typeof value === 'string' ? blankAsMissing(value.trim().toLowerCase()) : value),
  z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .default('false')
    .transform((value) => value === 'true'),
);

const queuePrefix = z.preprocess(
  blankAsMissing,
  z
    .string()
    .default('latch')
    .refine((value) => !/\s/.test(value), { error: 'must not contain spaces' }),
);

const logLevel = z.preprocess(
  blankAsMissing,
  z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
);

const port = z.preprocess(
  blankAsMissing,
  z
    .string()
    .default('3000')
    .refine((value) => /^\d{1,5}$/.test(value) && Number(value) >= 1 && Number(value) <= 65535, {
      error: 'must be a port number between 1 and 65535',
    })
    .transform(Number),
);

/** Below Kubernetes' default grace period of 30 s, so closing connections fits before its SIGKILL. */
export const DEFAULT_SHUTDOWN_TIMEOUT_SECONDS = 25;
/** The admission gate's bound (src/slack/admission-gate.ts explains the number). */
export const DEFAULT_MAX_SLACK_WORK = 256;
/**
 * Revocations a worker process runs at once. A revocation waits on three PostgreSQL round
 * trips and its provider call in its slot, so a worker's revocations a second are this divided by
 * that wait: 10 slots fell behind 500 due a second with a webhook provider (BENCHMARKS.md), and a
 * database a network hop away lengthens every round trip. The bound:
 * each running revocation holds a connection of its own for its access lock, and the process's
 * pool grows with it too (README, *Configuration*), so 100 already means about 220 connections.
 */
export const DEFAULT_REVOKE_CONCURRENCY = 10;
export const MAX_REVOKE_CONCURRENCY = 100;

/** A whole number from `min` to `max`, `fallback` when unset or blank. */
function wholeNumber(fallback: number, min: number, max: number, unit = '') {
  return z.preprocess(
    blankAsMissing,
    z
      .string()
      .default(String(fallback))
      .refine((value) => /^\d+$/.test(value) && Number(value) >= min && Number(value) <= max, {
        error: `must be a whole number${unit} between ${min} and ${max}`,
      })
      .transform(Number),
  );
}

const policyFile = z.preprocess(
  blankAsMissing,
  z
    .string()
    .default('policy.yaml')
    .superRefine((path, ctx) => {
      try {
        if (!statSync(path).isFile()) {
          ctx.addIssue({ code: 'custom', message: `is ${path}, which is not a file` });
          return;
        }
        accessSync(path, constants.R_OK);
      } catch {
        ctx.addIssue({ code: 'custom', message: `is ${path}, which does not exist or cannot be read` });
      }
    }),
);

const slackApiUrl = z.preprocess(
  blankAsMissing,
  z
    .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })
    .optional()
    // The Web API client joins method names onto this base, so it must end with a slash.
    .transform((value) => (value === undefined || value.endsWith('/') ? value : `${value}/`)),
);

/** An on-call provider's API key: one line of text, never echoed back. */
const onCallApiKey = z.preprocess(
  blankAsMissing,
  z
    .string()
    .refine((value) => !/\s/.test(value), { error: 'must be one key without spaces' })
    .optional(),
);

const onCallApiUrl = z.preprocess(blankAsMissing, z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).optional());

/** What `latch migrate` needs. */
export const migrateEnvSchema = z.object({
  DATABASE_URL: databaseUrl,
  LOG_LEVEL: logLevel,
});

/** What `latch token …` reads: the database, and the policy that names the machines. */
export const tokenEnvSchema = migrateEnvSchema.extend({ LATCH_POLICY_FILE: policyFile });

/**
 * What `latch migrate` reads: the database, and the role to grant prisma/app-role.sql to after
 * migrating (a new table needs its grant), so a deployment needs no psql step of its own.
 */
export const migrateCommandEnvSchema = migrateEnvSchema
  .extend({
    LATCH_APP_ROLE: z.preprocess(
      blankAsMissing,
      z
        .string()
        .regex(/^[a-z_][a-z0-9_$]{0,62}$/, { error: 'must be a PostgreSQL role name: lower-case letters, digits and _, at most 63 characters' })
        .optional(),
    ),
  })
  .superRefine((env, ctx) => {
    // Granting the owner its own tables would pass unnoticed, and leave the service able to switch
    // off the audit trail's triggers, which is what the separate role prevents.
    if (env.LATCH_APP_ROLE !== undefined && env.LATCH_APP_ROLE === decodeURIComponent(new URL(env.DATABASE_URL).username)) {
      ctx.addIssue({
        code: 'custom',
        path: ['LATCH_APP_ROLE'],
        message: "names the role DATABASE_URL connects as: migrate as the tables' owner, and name the other role, the one the service runs as",
      });
    }
  });

/** The service's variables one by one (pick from these: serviceEnvSchema also checks them together). */
export const serviceEnvFields = migrateEnvSchema.extend({
  REDIS_URL: redisUrl,
  REDIS_CLUSTER: redisCluster,
  LATCH_QUEUE_PREFIX: queuePrefix,
  SLACK_BOT_TOKEN: z.preprocess(blankAsMissing, token('SLACK_BOT_TOKEN', 'xoxb-')),
  SLACK_SIGNING_SECRET: z.preprocess(
    blankAsMissing,
    required('SLACK_SIGNING_SECRET').refine((value) => !/\s/.test(value), {
      error: 'must not contain spaces',
    }),
  ),
  SLACK_APP_TOKEN: z.preprocess(blankAsMissing, token('SLACK_APP_TOKEN', 'xapp-').optional()),
  LATCH_POLICY_FILE: policyFile,
  PORT: port,
  SLACK_API_URL: slackApiUrl,
  LATCH_SHUTDOWN_TIMEOUT_SECONDS: wholeNumber(DEFAULT_SHUTDOWN_TIMEOUT_SECONDS, 1, 3600, ' of seconds'),
  LATCH_MAX_SLACK_WORK: wholeNumber(DEFAULT_MAX_SLACK_WORK, 1, 10_000),
  LATCH_REVOKE_CONCURRENCY: wholeNumber(DEFAULT_REVOKE_CONCURRENCY, 1, MAX_REVOKE_CONCURRENCY),
  LATCH_TRUSTED_PROXY_HOPS: wholeNumber(0, 0, 10),
  LATCH_MAX_WAITING_LOGINS: wholeNumber(DEFAULT_MAX_WAITING_LOGINS, 1, 100_000),
  PAGERDUTY_API_KEY: onCallApiKey,
  PAGERDUTY_API_URL: onCallApiUrl,
  OPSGENIE_API_KEY: onCallApiKey,
  OPSGENIE_API_URL: onCallApiUrl,
});

/** What the service (`latch start`) needs. */
export const serviceEnvSchema = serviceEnvFields.superRefine((env, ctx) => {
  const urlProblem = redisClusterUrlProblem(env.REDIS_URL, env.REDIS_CLUSTER);
  if (urlProblem) ctx.addIssue({ code: 'custom', path: ['REDIS_URL'], message: urlProblem });
  if (env.REDIS_CLUSTER && !hashTagOf(env.LATCH_QUEUE_PREFIX)) {
    ctx.addIssue({
      code: 'custom',
      path: ['LATCH_QUEUE_PREFIX'],
      message:
        `is "${env.LATCH_QUEUE_PREFIX}", which has no {hash tag}: with REDIS_CLUSTER=true every key of a queue must hash to one slot, ` +
        `or BullMQ's scripts fail with CROSSSLOT; set LATCH_QUEUE_PREFIX=${hashTaggedPrefixFor(env.LATCH_QUEUE_PREFIX)}`,
    });
  }
});

export type MigrateEnv = z.infer<typeof migrateEnvSchema>;
export type MigrateCommandEnv = z.infer<typeof migrateCommandEnvSchema>;
export type ServiceEnv = z.infer<typeof serviceEnvSchema>;

export type EnvResult<T> = { ok: true; env: T } | { ok: false; problems: string[] };

/**
 * Reads the environment through a schema. Each problem is one line that names the variable and
 * says what is wrong, in the order the variables are documented, fit to print as it is.
 */
export function parseEnv<T extends z.ZodType>(
  schema: T,
  source: Record<string, string | undefined>,
): EnvResult<z.infer<T>> {
  const result = schema.safeParse(source);
  if (result.success) return { ok: true, env: result.data };
  const order = Object.keys(ENV_VARIABLES);
  const problems = result.error.issues
    .map((issue) => ({ name: String(issue.path[0] ?? 'environment'), message: issue.message }))
    .sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name))
    .map(({ name, message }) => `${name} ${message}`);
  return { ok: false, problems: [...new Set(problems)] };
}
