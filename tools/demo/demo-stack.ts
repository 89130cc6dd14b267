import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import type { LogLevel } from '../../src/config/env.ts';
import { createLogger } from '../../src/logging/logger.ts';
import { SLACK_EVENTS_PATH } from '../../src/slack/app.ts';
import { startSandbox } from '../sandbox/sandbox.ts';
import { DEMO_CHANNELS, DEMO_PEOPLE, DEMO_USERGROUPS } from './demo-cast.ts';
import { resetAnalyticsDatabase, resetLatchDatabase, withUser } from './demo-databases.ts';
import type { DemoNames } from './demo-names.ts';
import { ANALYTICS_DB_URL_ENV, demoPolicyYaml, DIGEST_NAME } from './demo-policy.ts';
import { LatchChild } from './latch-child.ts';

const LATCH_BIN = fileURLToPath(new URL('../../bin/latch.js', import.meta.url));
/** Latch's token for the sandbox's Web API; the sandbox refuses any other, as Slack would. */
const DEMO_BOT_TOKEN = 'xoxb-0000-0000-latch-demo-sandbox';

export interface DemoStackOptions {
  /** Superuser on the PostgreSQL server that holds Latch's database and the analytics database. */
  adminUrl: string;
  redisUrl: string;
  names: DemoNames;
  /** Where the sandbox page listens; 127.0.0.1 unless it must be reached from another machine. */
  sandboxHost: string;
  /** Other names the page is reached by (a DNS name of this machine); requests naming others are refused. */
  sandboxAllowedHosts?: string[];
  sandboxPort: number;
  latchPort: number;
  /** The policy file, Latch's environment and its log are written here. */
  workDir: string;
  digestSchedule?: string;
  logLevel?: LogLevel;
  /** How `node` starts Latch: bin/latch.js unless given (a test gives its own entry, which grants for seconds). */
  latchNodeArgs?: string[];
  /** Stops waiting for Latch (Ctrl-C while it starts); what was started is stopped. */
  abort?: AbortSignal;
  say(line: string): void;
}

export interface DemoStack {
  sandboxUrl: string;
  latchUrl: string;
  policyFile: string;
  latchLogFile: string;
  /** Latch's environment, also written to `latch.env` in the work folder for `npm run demo -- digest`. */
  latchEnv: Record<string, string>;
  /** Stops Latch, then the sandbox. */
  stop(): Promise<void>;
}

/**
 * Latch and the local Slack sandbox wired together on one PostgreSQL server and one Redis: a fresh
 * Latch database, the analytics database whose role Latch grants, the demo policy, the sandbox (a
 * Slack workspace in a web page, with a live pg_has_role panel) and `latch start` talking to it.
 */
export async function startDemoStack(options: DemoStackOptions): Promise<DemoStack> {
  const { names, say } = options;
  mkdirSync(options.workDir, { recursive: true });
  const logger = createLogger({ level: 'warn' });
  say(`creating and migrating the ${names.latchDatabase} database…`);
  const databaseUrl = await resetLatchDatabase(options.adminUrl, names, logger);
  say(`creating the ${names.targetDatabase} database and the role ${names.readRole} that Latch will grant…`);
  const analytics = await resetAnalyticsDatabase(options.adminUrl, names);
  const policyFile = join(options.workDir, 'policy.yaml');
  writeFileSync(policyFile, demoPolicyYaml({ names, ...(options.digestSchedule ? { digestSchedule: options.digestSchedule } : {}) }));

  const signingSecret = randomBytes(16).toString('hex');
  const latchUrl = `http://127.0.0.1:${options.latchPort}`;
  const latchEventsUrl = `${latchUrl}${SLACK_EVENTS_PATH}`;
  const memberships = new pg.Pool({ connectionString: analytics.adminUrl, max: 1, connectionTimeoutMillis: 5_000 });
  // An idle connection the server ends (PostgreSQL stopping, at Ctrl-C or otherwise) must not
  // bring the demo down: the panel shows the next read's error instead.
  memberships.on('error', () => undefined);
  // The requester's own login, as they would query: what the database itself lets them see.
  const requesterView = new pg.Pool({ connectionString: withUser(analytics.adminUrl, analytics.logins[0]!), max: 1, connectionTimeoutMillis: 5_000 });
  requesterView.on('error', () => undefined);
  const cleanups: Array<() => Promise<unknown>> = [() => memberships.end(), () => requesterView.end()];
  const stop = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  };
  try {
    const sandbox = await startSandbox({
      port: options.sandboxPort,
      host: options.sandboxHost,
      ...(options.sandboxAllowedHosts ? { allowedHosts: options.sandboxAllowedHosts } : {}),
      latchUrl: latchEventsUrl,
      signingSecret,
      botToken: DEMO_BOT_TOKEN,
      users: DEMO_PEOPLE.map(({ id, name, realName, email, tz }) => ({ id, name, realName, email, tz })),
      channels: DEMO_CHANNELS.map(({ id, name }) => ({ id, name })),
      usergroups: DEMO_USERGROUPS.map(({ id, handle, users }) => ({ id, handle, users: [...users] })),
      panels: [
        {
          title: `PostgreSQL, live: pg_has_role(login, '${names.readRole}', 'MEMBER')`,
          read: () => readMemberships(memberships, analytics.logins, names.readRole),
        },
        {
          title: `PostgreSQL, live: what ${analytics.logins[0]} sees of orders`,
          read: () => readOrdersSeen(requesterView, analytics.logins[0]!),
        },
      ],
    });
    cleanups.push(() => sandbox.close());

    const latchEnv: Record<string, string> = {
      DATABASE_URL: databaseUrl,
      REDIS_URL: options.redisUrl,
      SLACK_BOT_TOKEN: DEMO_BOT_TOKEN,
      SLACK_SIGNING_SECRET: signingSecret,
      SLACK_API_URL: sandbox.apiUrl,
      LATCH_POLICY_FILE: policyFile,
      PORT: String(options.latchPort),
      LOG_LEVEL: options.logLevel ?? 'info',
      [ANALYTICS_DB_URL_ENV]: analytics.grantorUrl,
    };
    writeFileSync(join(options.workDir, 'latch.env'), Object.entries(latchEnv).map(([name, value]) => `${name}=${value}\n`).join(''), { mode: 0o600 });
    const latchLogFile = join(options.workDir, 'latch.log');
    say(`starting Latch on port ${options.latchPort} (its log: ${latchLogFile})…`);
    const latch = new LatchChild(['start'], latchEnv, latchLogFile, options.latchNodeArgs);
    cleanups.push(() => latch.stop());
    await latch.waitUntilReady(options.latchPort, options.abort);
    return { sandboxUrl: sandbox.url, latchUrl, policyFile, latchLogFile, latchEnv, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** One row a login: does it hold the role right now, as PostgreSQL itself answers. */
async function readMemberships(pool: pg.Pool, logins: string[], role: string): Promise<Array<Record<string, string | boolean>>> {
  const { rows } = await pool.query<{ login: string; member: boolean }>(
    `SELECT login, pg_has_role(login, $2, 'MEMBER') AS member FROM unnest($1::text[]) WITH ORDINALITY AS l(login, n) ORDER BY n`,
    [logins, role],
  );
  return rows.map((row) => ({ login: row.login, role, pg_has_role: row.member }));
}

/**
 * The customers whose orders `login` can read now, asked as that login: nothing without a grant,
 * all of them with the whole role, only the asked-for customer with a scoped one, and nothing once
 * the scope's time is up. The session is kept between reads, as a person's open psql would be.
 */
async function readOrdersSeen(pool: pg.Pool, login: string): Promise<Array<Record<string, string | number>>> {
  try {
    const { rows } = await pool.query<{ customer_id: number; orders: string }>('SELECT customer_id, count(*) AS orders FROM orders GROUP BY 1 ORDER BY 1');
    if (rows.length === 0) return [{ login, customer: 'none', orders: 0 }];
    return rows.map((row) => ({ login, customer: row.customer_id, orders: Number(row.orders) }));
  } catch (error) {
    // Not a failure of the demo: what PostgreSQL answers the person (no privilege, session ended).
    return [{ login, customer: `refused: ${(error as Error).message}`, orders: 0 }];
  }
}

/** Latch's environment as the running demo wrote it, for commands run beside it. */
export function readLatchEnv(workDir: string): Record<string, string> {
  const file = join(workDir, 'latch.env');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new Error(`${file} is missing: is the demo running? Start it with npm run demo`);
  }
  return Object.fromEntries(
    text
      .split('\n')
      .filter(Boolean)
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

/**
 * `latch digest send security --so-far` against the demo: the digest appears in #security. The
 * period running now, not the last complete one: a person who just clicked through the story wants
 * to see it there. Resolves with what it printed.
 */
export async function sendDemoDigest(latchEnv: Record<string, string>): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, [LATCH_BIN, 'digest', 'send', DIGEST_NAME, '--so-far'], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/', ...latchEnv },
    timeout: 60_000,
  });
  return stdout.trim();
}
