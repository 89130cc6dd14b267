import { parseArgs } from 'node:util';
import { UsageError } from '../../src/cli/cli-error.ts';
import { runCommandLine } from '../../src/cli/run-command-line.ts';
import { seedCommand } from './seed-command.ts';

// A development tool, not part of the `latch` command: the production image does not carry it.
const USAGE = `Usage: npm run seed -- --requests N [--days D] [--seed S] [--until time] [--force]

Fills the database (DATABASE_URL, migrated) with N requests of made-up history over the last D days
(default 30), through Latch's own use cases, with the people of the policy file (LATCH_POLICY_FILE,
default policy.yaml). The same S writes the same history; --until ends it at that time instead of
now. Refuses a database that holds requests unless --force.`;

async function main(argv: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        requests: { type: 'string' },
        days: { type: 'string' },
        seed: { type: 'string' },
        until: { type: 'string' },
        force: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const options = parsed.values;
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const whole = (name: string, value: string | undefined, fallback: number | undefined, max: number) => {
    if (value === undefined) {
      if (fallback === undefined) throw new UsageError(`\`npm run seed\` needs --${name} N, e.g. --${name} 1000`);
      return fallback;
    }
    const number = Number(value);
    if (!/^\d+$/.test(value) || number < 1 || number > max) throw new UsageError(`--${name} must be a whole number from 1 to ${max}, not "${value}"`);
    return number;
  };
  const requests = whole('requests', options.requests, undefined, 10_000_000);
  const days = whole('days', options.days, 30, 3650);
  if (options.seed !== undefined && options.seed.trim() === '') throw new UsageError('--seed must not be empty');
  let until: Date | null = null;
  if (options.until !== undefined) {
    until = new Date(options.until);
    if (Number.isNaN(until.getTime())) throw new UsageError(`--until must be a date or time such as 2026-12-01 or 2026-11-24T10:00:00Z, not "${options.until}"`);
  }
  return seedCommand({ requests, days, seed: options.seed ?? null, until, force: options.force });
}

runCommandLine('seed', USAGE, () => main(process.argv.slice(2)));
