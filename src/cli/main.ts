import { parseArgs } from 'node:util';
import { z } from 'zod';
import { createSecretScrubber } from '../logging/secret-scrubber.ts';
import { CliError, EXIT } from './cli-error.ts';
import { accessListCommand } from './commands/access-list.ts';
import { auditVerifyCommand } from './commands/audit-verify.ts';
import { migrateCommand } from './commands/migrate.ts';
import { policyCheckCommand } from './commands/policy-check.ts';
import { startCommand } from './commands/start.ts';

const USAGE = `Usage: latch [command]

Commands:
  start              run Latch: check the policy, PostgreSQL, Redis and the Slack token, then
                     serve Slack's requests and run the jobs (the default)
  web                serve Slack's requests only (scale these behind a load balancer)
  worker             run the jobs only (expiry and re-announce sweeps)
  migrate            apply pending database migrations (safe to run from several processes)
  migrate --check    compare the database with prisma/schema.prisma; exit 1 if they differ
  access             list the access Latch has granted and not yet revoked, overdue
                     revocations first; exit 1 when a revocation is overdue
  audit verify       check the audit trail's hash chain; exit 1 at the first broken event
  policy check [file]  validate a policy file (default: LATCH_POLICY_FILE or policy.yaml);
                     exit 1 with each problem's path and line
  help               show this text

Configuration comes from the environment: see .env.example.`;

const argsSchema = z.object({
  command: z.enum(['start', 'web', 'worker', 'migrate', 'access', 'audit', 'policy', 'help'], { error: (issue) => `unknown command "${String(issue.input)}"` }),
  check: z.boolean(),
});

class UsageError extends CliError {
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}

async function main(argv: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { check: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const [command = 'start', ...extra] = parsed.positionals;
  if (parsed.values.help || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const args = argsSchema.safeParse({ command, check: parsed.values.check });
  if (!args.success) throw new UsageError(args.error.issues[0]?.message ?? 'bad arguments');
  if (args.data.command === 'audit') {
    if (extra.length !== 1 || extra[0] !== 'verify') throw new UsageError('`latch audit` takes one subcommand: verify');
    return auditVerifyCommand();
  }
  if (args.data.command === 'policy') {
    if (extra[0] !== 'check' || extra.length > 2) throw new UsageError('`latch policy` takes: check [file]');
    return policyCheckCommand(extra[1]);
  }
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  if (args.data.check && args.data.command !== 'migrate') throw new UsageError('--check only applies to `latch migrate`');

  const { command: name } = args.data;
  if (name === 'migrate') await migrateCommand({ check: args.data.check });
  else if (name === 'access') await accessListCommand();
  else if (name === 'web' || name === 'worker') await startCommand(name);
  else await startCommand('all');
}

// Whatever escapes is printed as lines, never as a stack trace, and never with a secret in it:
// an unexpected error may quote a connection string.
const scrub = createSecretScrubber(Object.entries(process.env).filter(([name]) => /TOKEN|SECRET|PASSWORD/.test(name)).map(([, value]) => value));

main(process.argv.slice(2)).then(
  () => process.exit(EXIT.ok),
  (error: unknown) => {
    const known = error instanceof CliError;
    const message = known ? error.message : `unexpected error: ${error instanceof Error ? error.message : String(error)}`;
    for (const line of scrub(message).split('\n')) process.stderr.write(`latch: ${line}\n`);
    if (error instanceof UsageError) process.stderr.write(`\n${USAGE}\n`);
    process.exit(known ? error.exitCode : EXIT.failure);
  },
);
