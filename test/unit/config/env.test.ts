import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ENV_VARIABLES, migrateCommandEnvSchema, migrateEnvSchema, parseEnv, serviceEnvSchema } from '../../../src/config/env.ts';

const policyFile = join(mkdtempSync(join(tmpdir(), 'latch-env-')), 'policy.yaml');
writeFileSync(policyFile, 'resources: []\n');

const valid = {
  DATABASE_URL: 'postgresql://latch:s3cret-db-pass@db.internal:5432/latch',
  REDIS_URL: 'redis://redis.internal:6379',
  SLACK_BOT_TOKEN: 'xoxb-1111-2222-abcdef',
  SLACK_SIGNING_SECRET: '8f742231b10e8888abcd99yyyzzz85a5',
  LATCH_POLICY_FILE: policyFile,
};

function problemsFor(overrides: Record<string, string | undefined>) {
  const result = parseEnv(serviceEnvSchema, { ...valid, ...overrides });
  if (result.ok) throw new Error('expected the environment to be refused');
  return result.problems;
}

describe('service environment', () => {
  it('accepts a complete environment and fills in the defaults', () => {
    const result = parseEnv(serviceEnvSchema, valid);
    expect(result).toEqual({
      ok: true,
      env: { ...valid, PORT: 3000, LOG_LEVEL: 'info', SLACK_APP_TOKEN: undefined, SLACK_API_URL: undefined, REDIS_CLUSTER: false, LATCH_QUEUE_PREFIX: 'latch', LATCH_SHUTDOWN_TIMEOUT_SECONDS: 25, LATCH_MAX_SLACK_WORK: 256, LATCH_REVOKE_CONCURRENCY: 10, LATCH_TRUSTED_PROXY_HOPS: 0, LATCH_MAX_WAITING_LOGINS: 200 },
    });
  });

  it('names a missing DATABASE_URL in one line that says what to set', () => {
    expect(problemsFor({ DATABASE_URL: undefined })).toEqual([
      'DATABASE_URL is missing: set it to the PostgreSQL connection string, e.g. postgresql://latch@localhost:5432/latch',
    ]);
  });

  it('treats a blank value as missing', () => {
    expect(problemsFor({ REDIS_URL: '  ' })).toEqual([`REDIS_URL is missing: set it to ${ENV_VARIABLES.REDIS_URL}`]);
  });

  it('lists every problem, one line each, in the documented order', () => {
    const problems = problemsFor({ SLACK_SIGNING_SECRET: undefined, DATABASE_URL: undefined, PORT: 'eighty' });
    expect(problems.map((line) => line.split(' ')[0])).toEqual(['DATABASE_URL', 'SLACK_SIGNING_SECRET', 'PORT']);
  });

  it.each([
    ['DATABASE_URL', 'mysql://root:hunter22@db/latch', 'is not a valid postgresql:// or postgres:// URL'],
    ['DATABASE_URL', 'not a url at all', 'is not a valid postgresql:// or postgres:// URL'],
    ['REDIS_URL', 'http://redis:6379', 'is not a valid redis:// or rediss:// URL'],
    ['REDIS_URL', 'redis://a:6379,redis://b:6379', 'names 2 Redis nodes: set REDIS_CLUSTER=true if they are the seed nodes of a Redis Cluster'],
    ['REDIS_CLUSTER', 'yes', 'must be true or false'],
    ['LATCH_QUEUE_PREFIX', 'my latch', 'must not contain spaces'],
    ['SLACK_BOT_TOKEN', 'xoxp-user-token-not-bot', "does not look like the Slack app's bot token (starts with xoxb-)"],
    ['SLACK_APP_TOKEN', 'xoxb-wrong-kind', 'does not look like an app-level token for Socket Mode'],
    ['PORT', '70000', 'must be a port number between 1 and 65535'],
    ['PORT', '3000abc', 'must be a port number between 1 and 65535'],
    ['LOG_LEVEL', 'verbose', 'must be one of fatal, error, warn, info, debug, trace, silent'],
    ['SLACK_API_URL', 'ftp://fake', 'must be an http:// or https:// URL'],
    ['PAGERDUTY_API_KEY', 'two words', 'must be one key without spaces'],
    ['OPSGENIE_API_URL', 'ftp://opsgenie', 'must be an http:// or https:// URL'],
    ['LATCH_SHUTDOWN_TIMEOUT_SECONDS', '0', 'must be a whole number of seconds between 1 and 3600'],
    ['LATCH_SHUTDOWN_TIMEOUT_SECONDS', '2.5', 'must be a whole number of seconds between 1 and 3600'],
    ['LATCH_MAX_SLACK_WORK', '0', 'must be a whole number between 1 and 10000'],
    ['LATCH_MAX_SLACK_WORK', 'lots', 'must be a whole number between 1 and 10000'],
    ['LATCH_REVOKE_CONCURRENCY', '0', 'must be a whole number between 1 and 100'],
    ['LATCH_REVOKE_CONCURRENCY', '101', 'must be a whole number between 1 and 100'],
    ['LATCH_REVOKE_CONCURRENCY', '2.5', 'must be a whole number between 1 and 100'],
    ['LATCH_TRUSTED_PROXY_HOPS', '-1', 'must be a whole number between 0 and 10'],
    ['LATCH_TRUSTED_PROXY_HOPS', 'all', 'must be a whole number between 0 and 10'],
    ['LATCH_MAX_WAITING_LOGINS', '0', 'must be a whole number between 1 and 100000'],
    ['LATCH_MAX_WAITING_LOGINS', 'lots', 'must be a whole number between 1 and 100000'],
    ['LATCH_POLICY_FILE', '/nonexistent/policy.yaml', 'is /nonexistent/policy.yaml, which does not exist or cannot be read'],
  ])('refuses %s=%s', (name, value, message) => {
    const problems = problemsFor({ [name]: value });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(`${name} ${message}`);
  });

  it('never echoes a secret value back in its messages', () => {
    const problems = problemsFor({ DATABASE_URL: 'mysql://root:hunter22@db/latch', SLACK_BOT_TOKEN: 'xoxp-9999-secret' });
    expect(problems.join('\n')).not.toMatch(/hunter22|9999-secret/);
  });

  it('refuses a policy path that is a folder', () => {
    expect(problemsFor({ LATCH_POLICY_FILE: tmpdir() })).toEqual([`LATCH_POLICY_FILE is ${tmpdir()}, which is not a file`]);
  });

  it('reads LATCH_MAX_SLACK_WORK as a number', () => {
    const result = parseEnv(serviceEnvSchema, { ...valid, LATCH_MAX_SLACK_WORK: '200' });
    expect(result.ok && result.env.LATCH_MAX_SLACK_WORK).toBe(200);
  });

  it('reads LATCH_REVOKE_CONCURRENCY as a number', () => {
    const result = parseEnv(serviceEnvSchema, { ...valid, LATCH_REVOKE_CONCURRENCY: '40' });
    expect(result.ok && result.env.LATCH_REVOKE_CONCURRENCY).toBe(40);
  });

  it('reads PORT as a number and adds the trailing slash the Web API client needs', () => {
    const result = parseEnv(serviceEnvSchema, { ...valid, PORT: '8080', SLACK_API_URL: 'http://127.0.0.1:9999/api' });
    expect(result.ok && result.env.PORT).toBe(8080);
    expect(result.ok && result.env.SLACK_API_URL).toBe('http://127.0.0.1:9999/api/');
  });
});

describe('Redis Cluster', () => {
  const cluster = { REDIS_CLUSTER: 'true', REDIS_URL: 'redis://:cluster-pass@10.0.0.1:6379,redis://:cluster-pass@10.0.0.2:6380', LATCH_QUEUE_PREFIX: '{latch}' };

  it('accepts several seed nodes and a hash-tagged prefix', () => {
    const result = parseEnv(serviceEnvSchema, { ...valid, ...cluster });
    expect(result.ok && { cluster: result.env.REDIS_CLUSTER, prefix: result.env.LATCH_QUEUE_PREFIX, url: result.env.REDIS_URL }).toEqual({
      cluster: true,
      prefix: '{latch}',
      url: cluster.REDIS_URL,
    });
  });

  it.each(['latch', undefined, '{}latch', 'latch{', 'latch}{'])('refuses the prefix %s in one line that says why and what to set', (prefix) => {
    const problems = problemsFor({ ...cluster, LATCH_QUEUE_PREFIX: prefix });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^LATCH_QUEUE_PREFIX is ".*", which has no \{hash tag\}: with REDIS_CLUSTER=true every key of a queue must hash to one slot, or BullMQ's scripts fail with CROSSSLOT; set LATCH_QUEUE_PREFIX=\{latch\}$/);
  });

  it.each(['{latch}', 'acme-{latch}', '{latch-eu}:jobs'])('accepts the prefix %s, whose hash tag puts every key of a queue in one slot', (prefix) => {
    expect(parseEnv(serviceEnvSchema, { ...valid, ...cluster, LATCH_QUEUE_PREFIX: prefix }).ok).toBe(true);
  });

  it('suggests the operator\'s own prefix in braces', () => {
    expect(problemsFor({ ...cluster, LATCH_QUEUE_PREFIX: 'acme-latch' })[0]).toMatch(/set LATCH_QUEUE_PREFIX=\{acme-latch\}$/);
  });

  it('refuses seeds with different passwords without quoting them, and a database other than 0', () => {
    const mixed = problemsFor({ ...cluster, REDIS_URL: 'redis://:first-secret@a:6379,redis://:second-secret@b:6379' });
    expect(mixed).toEqual([expect.stringMatching(/^REDIS_URL names Redis Cluster seed nodes with different schemes, users or passwords/)]);
    expect(mixed.join('\n')).not.toMatch(/first-secret|second-secret/);
    expect(problemsFor({ ...cluster, REDIS_URL: 'redis://a:6379/2' })).toEqual([
      'REDIS_URL names database 2, but a Redis Cluster only has database 0: remove /2 from the URL',
    ]);
  });

  it('keeps a password that holds a comma in one URL', () => {
    const result = parseEnv(serviceEnvSchema, { ...valid, REDIS_URL: 'redis://:pass,word@redis.internal:6379' });
    expect(result.ok).toBe(true);
  });
});

describe('migrate environment', () => {
  it('needs only the database', () => {
    const result = parseEnv(migrateEnvSchema, { DATABASE_URL: valid.DATABASE_URL });
    expect(result).toEqual({ ok: true, env: { DATABASE_URL: valid.DATABASE_URL, LOG_LEVEL: 'info' } });
  });
});

describe('latch migrate environment', () => {
  it('grants no role unless LATCH_APP_ROLE names one', () => {
    expect(parseEnv(migrateCommandEnvSchema, { DATABASE_URL: valid.DATABASE_URL })).toEqual({ ok: true, env: { DATABASE_URL: valid.DATABASE_URL, LOG_LEVEL: 'info' } });
    expect(parseEnv(migrateCommandEnvSchema, { DATABASE_URL: valid.DATABASE_URL, LATCH_APP_ROLE: ' ' })).toEqual({ ok: true, env: { DATABASE_URL: valid.DATABASE_URL, LOG_LEVEL: 'info' } });
    expect(parseEnv(migrateCommandEnvSchema, { DATABASE_URL: valid.DATABASE_URL, LATCH_APP_ROLE: 'latch_app' })).toMatchObject({ ok: true, env: { LATCH_APP_ROLE: 'latch_app' } });
  });

  it('refuses a role name psql would need quotes for, and the owner DATABASE_URL connects as', () => {
    expect(parseEnv(migrateCommandEnvSchema, { DATABASE_URL: valid.DATABASE_URL, LATCH_APP_ROLE: 'app; DROP TABLE grants' })).toEqual({
      ok: false,
      problems: ['LATCH_APP_ROLE must be a PostgreSQL role name: lower-case letters, digits and _, at most 63 characters'],
    });
    // valid.DATABASE_URL connects as `latch`: granting it would leave the service as the owner.
    expect(parseEnv(migrateCommandEnvSchema, { DATABASE_URL: valid.DATABASE_URL, LATCH_APP_ROLE: 'latch' })).toEqual({
      ok: false,
      problems: ["LATCH_APP_ROLE names the role DATABASE_URL connects as: migrate as the tables' owner, and name the other role, the one the service runs as"],
    });
  });
});

describe('.env.example', () => {
  const whole = readFileSync(new URL('../../../.env.example', import.meta.url), 'utf8');
  // The file ends with the variables only docker-compose.yml reads (the database roles' passwords).
  const [example, composeOnly = ''] = whole.split(/^# docker-compose\.yml only/m);
  const variablesIn = (text: string) => [...text.matchAll(/^#?\s*([A-Z][A-Z0-9_]+)=/gm)].map((match) => match[1]!);
  const documented = variablesIn(example!);

  it('documents every variable Latch reads, and nothing else', () => {
    expect([...new Set(documented)].sort()).toEqual(Object.keys(ENV_VARIABLES).sort());
  });

  it('documents, apart, only variables docker-compose.yml uses', () => {
    const compose = readFileSync(new URL('../../../docker-compose.yml', import.meta.url), 'utf8');
    expect(variablesIn(composeOnly).length).toBeGreaterThan(0);
    for (const name of variablesIn(composeOnly)) expect(compose, name).toContain(`\${${name}`);
  });

  it('explains each variable in a comment above it', () => {
    for (const name of Object.keys(ENV_VARIABLES)) {
      const line = whole.split('\n').findIndex((text) => new RegExp(`^#?\\s*${name}=`).test(text));
      expect(whole.split('\n')[line - 1], `comment above ${name}`).toMatch(/^# \S/);
    }
  });
});
