import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { DEMO_PEOPLE, REQUESTER, SECURITY_CHANNEL, APPROVALS_CHANNEL, SECURITY_LEAD, FIRST_APPROVER, SECOND_APPROVER, databaseLoginOf } from './demo-cast.ts';
import { demoNames } from './demo-names.ts';
import { DEMO_CUSTOMER } from './demo-databases.ts';
import { ANALYTICS_RESOURCE, SUPPORT_RESOURCE } from './demo-policy.ts';
import { startDemoServices, type DemoServices } from './demo-services.ts';
import { readLatchEnv, sendDemoDigest, startDemoStack, type DemoStack } from './demo-stack.ts';

/**
 * `npm run demo`: Latch with a local Slack sandbox in the browser, on this machine, with nothing
 * to set up. `npm run demo -- digest` posts the security digest now, for the period so far, beside
 * a running demo.
 *
 * Settings (environment): LATCH_DEMO_PORT (the sandbox page, 3030), LATCH_DEMO_HOST (127.0.0.1;
 * 0.0.0.0 to open the page from another machine), LATCH_DEMO_LATCH_PORT (3031),
 * LATCH_DEMO_PG_PORT (54327) and LATCH_DEMO_REDIS_PORT (63797).
 */

const say = (line: string) => process.stdout.write(`demo: ${line}\n`);

function portSetting(name: string, fallback: number): number {
  const value = process.env[name]?.trim();
  if (!value) return fallback;
  const port = Number(value);
  if (!/^\d{1,5}$/.test(value) || port < 1 || port > 65535) throw new Error(`${name} must be a port number between 1 and 65535, not "${value}"`);
  return port;
}

function settings() {
  const pgPort = portSetting('LATCH_DEMO_PG_PORT', 54327);
  return {
    pgPort,
    redisPort: portSetting('LATCH_DEMO_REDIS_PORT', 63797),
    sandboxPort: portSetting('LATCH_DEMO_PORT', 3030),
    latchPort: portSetting('LATCH_DEMO_LATCH_PORT', 3031),
    sandboxHost: process.env.LATCH_DEMO_HOST?.trim() || '127.0.0.1',
    sandboxAllowedHosts: (process.env.LATCH_DEMO_ALLOWED_HOSTS ?? '').split(',').map((name) => name.trim()).filter(Boolean),
    // One folder per PostgreSQL port, so two demos on other ports never share files.
    workDir: join(tmpdir(), `latch-demo-${pgPort}`),
  };
}

async function runDemo(): Promise<void> {
  const config = settings();
  const names = demoNames();
  const stop = new AbortController();
  const stopSignal = new Promise<void>((resolve) => stop.signal.addEventListener('abort', () => resolve()));
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (stop.signal.aborted) return say('still stopping…');
      say('stopping what the demo started…');
      stop.abort(new DemoStopped());
    });
  }

  let services: DemoServices | undefined;
  let stack: DemoStack | undefined;
  try {
    services = await startDemoServices({ pgPort: config.pgPort, redisPort: config.redisPort, dir: join(config.workDir, 'services'), say });
    if (stop.signal.aborted) return;
    await emptyRedis(services.redisUrl);
    stack = await startDemoStack({ ...config, adminUrl: services.adminUrl, redisUrl: services.redisUrl, names, abort: stop.signal, say });
    if (stop.signal.aborted) return;
    process.stdout.write(guide(stack, names.readRole, config.sandboxHost));
    await stopSignal;
  } catch (error) {
    if (!(error instanceof DemoStopped)) throw error;
  } finally {
    await stack?.stop().catch((error: unknown) => say(`could not stop Latch and the sandbox: ${(error as Error).message}`));
    if (stack) say('Latch and the sandbox stopped');
    await services?.stop();
  }
}

/** Ctrl-C while the demo was still starting. */
class DemoStopped extends Error {
  constructor() {
    super('stopped');
  }
}

/**
 * The demo's Redis holds only the demo's schedules, and its database was just made afresh: jobs
 * left by an earlier run would point at requests that no longer exist.
 */
async function emptyRedis(url: string): Promise<void> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    await redis.flushdb();
  } finally {
    redis.disconnect();
  }
}

function guide(stack: DemoStack, readRole: string, host: string): string {
  const width = Math.max(...DEMO_PEOPLE.map((person) => person.realName.length + person.name.length + 4));
  const people = DEMO_PEOPLE.map((person) => `    ${`${person.realName} (@${person.name})`.padEnd(width)}  ${person.part}`).join('\n');
  const login = databaseLoginOf(REQUESTER);
  const remote = host === '127.0.0.1' ? '\n  (Only this machine can open it: LATCH_DEMO_HOST=0.0.0.0 npm run demo listens on every interface.)' : '';
  return `
  Latch demo is running. Open the Slack sandbox: ${stack.sandboxUrl}${remote}

  The people (switch between them in the page):
${people}

  Try this:
    1. As ${REQUESTER.realName}, type /request-access in the message box and fill in the form:
       Analytics database, read, 2m, and a reason.
    2. As ${FIRST_APPROVER.realName}, then as ${SECOND_APPROVER.realName}, press Approve on the request in #${APPROVALS_CHANNEL.name}.
    3. Watch the PostgreSQL panel: pg_has_role('${login}', '${readRole}', 'MEMBER') turns true once
       granted, and false again when the two minutes are up and Latch revokes it.
    4. Break-glass: as ${REQUESTER.realName}, /request-access break-glass ${ANALYTICS_RESOURCE} read 5m <reason>.
       It is granted at once and announced in #${SECURITY_CHANNEL.name}; as ${SECURITY_LEAD.realName}, press Mark reviewed there.
    5. The security digest comes to #${SECURITY_CHANNEL.name} every five minutes; to send it now, covering
       what you just did (since the last one), in another terminal: npm run demo -- digest
    6. One customer's rows: as ${REQUESTER.realName}, /request-access ${SUPPORT_RESOURCE} debug 2m customer=${DEMO_CUSTOMER} <reason>.
       Once ${FIRST_APPROVER.realName} approves, the second panel shows what ${login} sees of the orders
       table: customer ${DEMO_CUSTOMER} only, and nothing once the two minutes are up.

  Latch's log: ${stack.latchLogFile}
  The policy: ${stack.policyFile}
  Stop everything with Ctrl-C.

`;
}

async function main(args: string[]): Promise<void> {
  const [command, ...rest] = args;
  if (command === undefined) return runDemo();
  if (command === 'digest' && rest.length === 0) {
    process.stdout.write(`${await sendDemoDigest(readLatchEnv(settings().workDir))}\n`);
    return;
  }
  if (command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write('Usage: npm run demo            start the demo (Ctrl-C stops it)\n       npm run demo -- digest  post the security digest now, for the period so far, beside a running demo\n');
    return;
  }
  throw new Error(`unknown argument "${args.join(' ')}": npm run demo, or npm run demo -- digest`);
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (error: unknown) => {
    for (const line of (error instanceof Error ? error.message : String(error)).split('\n')) process.stderr.write(`demo: ${line}\n`);
    process.exit(1);
  },
);
