import { parseArgs } from 'node:util';
import { z } from 'zod';
import { parseDuration } from '../domain/duration.ts';
import { parseScopeToken, scopeFromTokens } from '../domain/scope-rules.ts';
import { UsageError } from './cli-error.ts';
import type { ExportFormat } from './commands/audit-export.ts';
import type { TestOnlySettings } from '../runtime/wiring.ts';
import { runCommandLine } from './run-command-line.ts';

// Each command's module is imported only when that command runs: `latch --help` or `latch policy
// check` need not load Bolt, BullMQ, Prisma and pg.

const USAGE = `Usage: latch [command]

Commands:
  start              run Latch: check the policy, PostgreSQL, Redis and the Slack token, then
                     serve Slack's requests and run the jobs (the default)
  web                serve Slack's requests only (scale these behind a load balancer)
  worker             run the jobs only (expiry and re-announce sweeps)
  migrate            apply pending database migrations (safe to run from several processes)
  access [--ended duration]
                     list the access Latch has granted and not yet revoked, overdue
                     revocations first; exit 1 when a revocation is overdue. --ended 24h first
                     lists the access that ended in the last 24h, and whether the target was
                     seen without it (verified gone), how late
  audit verify [--anchor seq:hash] [--allow-unsigned] [--chain-only]
                     check the audit trail's hash chain (up to a digest's anchor), that the
                     state rows follow from the events, and each decision's signed Slack request
                     (SLACK_SIGNING_SECRET); exit 1 naming each problem. --allow-unsigned accepts
                     decisions made over Socket Mode (or seeded), which Slack does not sign;
                     --chain-only checks the hash chain alone
  audit verify --file export.jsonl   the same for an export, without the database
  audit export [--since time] [--until time] [--format jsonl|csv]
                     the audit events of a period, with their hashes, on stdout
  digest send <name> [--so-far] [--dry-run]
                     post the policy's digest <name> for its last period (or only print it);
                     --so-far: for the period running now, from its latest run up to now
  policy check [file]  validate a policy file (default: LATCH_POLICY_FILE or policy.yaml);
                     exit 1 with each problem's path and line
  policy explain <requester> <resource> <role> <duration> [--groups S…,S…] [--at time] [--file f]
          [--scope name=value[,value]]…
                     what the policy would do with that request (and scope), and why; exit 1 if refused
  policy test [tests file]  run the cases of a tests file (default policy.tests.yaml) against
                     the policy; exit 1 when one fails
  token create <machine> [--expires 30d]
                     print a new API token for a machine of the policy, once (at most 366d)
  token list [machine]
                     the machines' API tokens and whether each is valid, expired or revoked
                     (without a machine, people's \`latch login\` tokens too)
  token revoke <id>  revoke an API token, or a person's login, at once
  request <resource> <role> <duration> --reason "..." [--ticket T] [--scope name=value]… [--wait] [--timeout 30m]
          [--format text|json|env] [--idempotency-key K] [--credentials]
                     ask Latch's API for access as a machine (LATCH_URL, LATCH_TOKEN; without
                     LATCH_TOKEN, a token traded for the job's OIDC token: LATCH_OIDC_TOKEN, or
                     GitHub Actions' with audience LATCH_OIDC_AUDIENCE, default LATCH_URL), or
                     as yourself after \`latch login\`; with
                     --wait, wait while people decide in Slack (at most --timeout). Exit 0
                     granted (or asked, without --wait), 2 denied, 3 expired undecided,
                     4 timed out waiting, 5 refused (policy, limit, bad request), 6 cancelled
                     or failed, 64 usage, 78 LATCH_URL/LATCH_TOKEN wrong or the OIDC token
                     refused, 69 Latch unreachable
  release <id> [--format text|json|env]
                     end a request's access early, once the task is done (same exit codes)
  credentials <id> [--format text|json|env]
                     print the login and password of a granted request (a resource with
                     credentials: dynamic), given once; request --wait --credentials does it
                     as soon as the access is granted. env prints PGHOST, PGPORT, PGDATABASE,
                     PGUSER, PGPASSWORD. A second fetch is refused (5)
  scopes install <resource> [--file f]
                     print the SQL a DBA applies once for a postgres resource's rowScopes
                     (row-level security keyed on the login; needs its connection string)
  scopes check <resource> [--file f]
                     connect as the grantor and list what is missing for its rowScopes; exit 1
                     until nothing is
  login              use Latch from this terminal as yourself: prints a code to type in Slack
                     (/request-access login CODE); once you confirm there, keeps a token for a
                     working day (in ~/.config/latch, mode 0600) that request, credentials and
                     release use when LATCH_TOKEN is unset. Exit 0 logged in, 2 refused in
                     Slack, 3 not confirmed in time, 78 LATCH_URL missing
  logout             end this terminal's login at once, and forget its token
  mcp                an MCP server on stdin/stdout for an AI agent running locally: forwards its
                     tool calls to the Latch at LATCH_URL with the machine token LATCH_TOKEN
  help               show this text

Configuration comes from the environment: see .env.example.`;

const argsSchema = z.object({
  command: z.enum(['start', 'web', 'worker', 'migrate', 'access', 'audit', 'digest', 'policy', 'token', 'request', 'release', 'credentials', 'login', 'logout', 'scopes', 'mcp', 'help'], { error: (issue) => `unknown command "${String(issue.input)}"` }),
});

async function main(argv: string[], testOnly: TestOnlySettings): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        help: { type: 'boolean', short: 'h', default: false },
        // policy explain, request
        groups: { type: 'string' },
        scope: { type: 'string', multiple: true },
        at: { type: 'string' },
        file: { type: 'string' },
        // audit export
        since: { type: 'string' },
        until: { type: 'string' },
        format: { type: 'string' },
        // audit verify
        anchor: { type: 'string' },
        'allow-unsigned': { type: 'boolean', default: false },
        'chain-only': { type: 'boolean', default: false },
        // digest send
        'dry-run': { type: 'boolean', default: false },
        'so-far': { type: 'boolean', default: false },
        // token create
        expires: { type: 'string' },
        // access
        ended: { type: 'string' },
        // request (and --format)
        reason: { type: 'string' },
        ticket: { type: 'string' },
        wait: { type: 'boolean', default: false },
        credentials: { type: 'boolean', default: false },
        timeout: { type: 'string' },
        'idempotency-key': { type: 'string' },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const [command = 'start', ...extra] = parsed.positionals;
  if (parsed.values.help || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const args = argsSchema.safeParse({ command });
  if (!args.success) throw new UsageError(args.error.issues[0]?.message ?? 'bad arguments');
  if (parsed.values.ended !== undefined && args.data.command !== 'access') throw new UsageError('--ended only applies to `latch access`');
  if (args.data.command === 'request' || args.data.command === 'release' || args.data.command === 'credentials') return requestSubcommand(args.data.command, extra, parsed.values);
  for (const option of ['reason', 'ticket', 'timeout', 'idempotency-key'] as const) {
    if (parsed.values[option] !== undefined) throw new UsageError(`--${option} only applies to \`latch request\``);
  }
  if (parsed.values.wait) throw new UsageError('--wait only applies to `latch request`');
  if (parsed.values.credentials) throw new UsageError('--credentials only applies to `latch request`');
  if (args.data.command === 'audit') return auditSubcommand(extra, parsed.values);
  if (args.data.command === 'policy') return policySubcommand(extra, parsed.values);
  if (parsed.values.scope !== undefined) throw new UsageError('--scope only applies to `latch request` and `latch policy explain`');
  if (args.data.command === 'scopes') {
    const [subcommand, resource, ...rest] = extra;
    if ((subcommand !== 'install' && subcommand !== 'check') || !resource || rest.length > 0) throw new UsageError('`latch scopes` takes: install <resource> | check <resource> [--file policy.yaml]');
    const { scopesCommand } = await import('./commands/scopes.ts');
    return scopesCommand(subcommand, resource, parsed.values.file ?? process.env.LATCH_POLICY_FILE ?? 'policy.yaml');
  }
  if (args.data.command === 'token') return tokenSubcommand(extra, parsed.values.expires);
  if (parsed.values.expires !== undefined) throw new UsageError('--expires only applies to `latch token create`');
  if (args.data.command === 'digest') {
    if (extra[0] !== 'send' || extra.length !== 2) throw new UsageError('`latch digest` takes: send <name> [--so-far] [--dry-run]');
    const { digestSendCommand } = await import('./commands/digest-send.ts');
    return digestSendCommand(extra[1]!, parsed.values['dry-run'], parsed.values['so-far'] ? 'so-far' : 'last');
  }
  if (parsed.values['dry-run']) throw new UsageError('--dry-run only applies to `latch digest send`');
  if (parsed.values['so-far']) throw new UsageError('--so-far only applies to `latch digest send`');
  if (parsed.values['allow-unsigned'] || parsed.values['chain-only']) throw new UsageError('--allow-unsigned and --chain-only only apply to `latch audit verify`');
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  for (const option of ['groups', 'at', 'file', 'since', 'until', 'format', 'anchor'] as const) {
    if (parsed.values[option] !== undefined) throw new UsageError(`--${option} does not apply to \`latch ${args.data.command}\``);
  }

  const { command: name } = args.data;
  if (name === 'migrate') {
    const { migrateCommand } = await import('./commands/migrate.ts');
    await migrateCommand();
  } else if (name === 'access') {
    const { accessListCommand } = await import('./commands/access-list.ts');
    await accessListCommand(parsed.values.ended === undefined ? {} : { endedWithinSeconds: endedWindow(parsed.values.ended) });
  } else if (name === 'login' || name === 'logout') {
    const { loginCommand, logoutCommand } = await import('./commands/login.ts');
    await (name === 'login' ? loginCommand() : logoutCommand());
  } else if (name === 'mcp') {
    const { mcpCommand } = await import('./commands/mcp.ts');
    await mcpCommand();
  } else {
    const { startCommand } = await import('./commands/start.ts');
    await startCommand(name === 'web' || name === 'worker' ? name : 'all', testOnly);
  }
}

async function auditSubcommand(
  extra: string[],
  options: {
    file?: string | undefined;
    since?: string | undefined;
    until?: string | undefined;
    format?: string | undefined;
    anchor?: string | undefined;
    'allow-unsigned'?: boolean | undefined;
    'chain-only'?: boolean | undefined;
  },
): Promise<void> {
  const [subcommand, ...rest] = extra;
  if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
  if (subcommand === 'verify') {
    if (options.since || options.until || options.format) throw new UsageError('`latch audit verify` takes only --file or --anchor');
    if (options.file && (options.anchor || options['allow-unsigned'] || options['chain-only'])) throw new UsageError('--file checks an export alone; --anchor, --allow-unsigned and --chain-only apply to the database');
    const { auditVerifyCommand, auditVerifyFileCommand, parseAnchor } = await import('./commands/audit-verify.ts');
    if (options.file) return auditVerifyFileCommand(options.file);
    const anchor = options.anchor === undefined ? undefined : parseAnchor(options.anchor);
    if (anchor === null) throw new UsageError(`--anchor must be <event number>:<64 hex digit hash>, as a digest posts it, not "${options.anchor}"`);
    return auditVerifyCommand({ anchor, allowUnsigned: options['allow-unsigned'] === true, chainOnly: options['chain-only'] === true });
  }
  if (options.anchor || options['allow-unsigned'] || options['chain-only']) throw new UsageError('--anchor, --allow-unsigned and --chain-only only apply to `latch audit verify`');
  if (subcommand === 'export') {
    if (options.file) throw new UsageError('`latch audit export` writes to stdout: redirect it to a file');
    const format = options.format ?? 'jsonl';
    if (format !== 'jsonl' && format !== 'csv') throw new UsageError(`--format must be jsonl or csv, not "${format}"`);
    const time = (name: string, value: string | undefined) => {
      if (value === undefined) return undefined;
      const parsed = new Date(value);
      if (Number.isNaN(parsed.getTime())) throw new UsageError(`--${name} must be a date or time such as 2026-11-01 or 2026-11-24T10:00:00Z, not "${value}"`);
      return parsed;
    };
    const { auditExportCommand } = await import('./commands/audit-export.ts');
    const exported = await auditExportCommand({ since: time('since', options.since), until: time('until', options.until) }, format as ExportFormat);
    process.stderr.write(`latch: exported ${exported} audit event(s)\n`);
    return;
  }
  throw new UsageError('`latch audit` takes: verify [--file export.jsonl] | export [--since time] [--until time] [--format jsonl|csv]');
}

const REQUEST_USAGE = '`latch request` takes: <resource> <role> <duration> --reason "..." [--ticket T] [--scope name=value[,value]]… [--wait] [--timeout 30m] [--format text|json|env] [--idempotency-key K] [--credentials]';

async function requestSubcommand(
  command: 'request' | 'release' | 'credentials',
  extra: string[],
  options: { reason?: string | undefined; ticket?: string | undefined; scope?: string[] | undefined; wait?: boolean | undefined; credentials?: boolean | undefined; timeout?: string | undefined; format?: string | undefined; 'idempotency-key'?: string | undefined; [other: string]: unknown },
): Promise<void> {
  const others = ['groups', 'at', 'file', 'since', 'until', 'anchor', 'expires'].filter((option) => options[option] !== undefined);
  if (others.length > 0 || options['dry-run'] || options['allow-unsigned'] || options['chain-only']) throw new UsageError(`--${others[0] ?? 'dry-run'} does not apply to \`latch ${command}\``);
  const format = options.format ?? 'text';
  if (format !== 'text' && format !== 'json' && format !== 'env') throw new UsageError(`--format must be text, json or env, not "${format}"`);
  const { requestCommand, releaseCommand, credentialsCommand } = await import('./commands/request.ts');
  if (command === 'release' || command === 'credentials') {
    if (extra.length !== 1) throw new UsageError(`\`latch ${command}\` takes: <request id> [--format text|json|env]`);
    if (options.reason !== undefined || options.ticket !== undefined || options.scope !== undefined || options.wait || options.credentials || options.timeout !== undefined || options['idempotency-key'] !== undefined) {
      throw new UsageError(`\`latch ${command}\` takes only a request id and --format`);
    }
    return command === 'release' ? releaseCommand(extra[0]!, format) : credentialsCommand(extra[0]!, format);
  }
  const [resource, role, duration, ...rest] = extra;
  if (!resource || !role || !duration || rest.length > 0) throw new UsageError(REQUEST_USAGE);
  if (!options.reason?.trim()) throw new UsageError('--reason is required: say why, for the approvers in Slack');
  if (options.credentials && !options.wait) throw new UsageError('--credentials needs --wait: the credentials come once the access is granted (or use `latch credentials <id>` then)');
  if (options.timeout !== undefined && !options.wait) throw new UsageError('--timeout bounds --wait: add --wait, or leave --timeout out');
  let timeoutSeconds: number | undefined;
  if (options.timeout !== undefined) {
    const parsedTimeout = parseDuration(options.timeout, 1);
    if (!parsedTimeout.ok) throw new UsageError(`--timeout: ${parsedTimeout.message}`);
    timeoutSeconds = parsedTimeout.seconds;
  }
  const scope = scopeOption(options.scope);
  return requestCommand({ resource, role, duration, reason: options.reason, ticket: options.ticket, scope, wait: options.wait === true, timeoutSeconds, format, idempotencyKey: options['idempotency-key'], credentials: options.credentials === true });
}

/** `--scope customer=4711,4712 --scope tables=public.orders` as one scope; null when none is given. */
function scopeOption(given: readonly string[] | undefined): Record<string, string[]> | null {
  const tokens = (given ?? []).map((token) => {
    const parsed = parseScopeToken(token.trim());
    if (!parsed) throw new UsageError(`--scope takes name=value[,value], such as customer=4711, not "${token}"`);
    return parsed;
  });
  return tokens.length > 0 ? scopeFromTokens(tokens) : null;
}

const TOKEN_USAGE = '`latch token` takes: create <machine> [--expires 30d] | list [machine] | revoke <id>';

async function tokenSubcommand(extra: string[], expires: string | undefined): Promise<void> {
  const [subcommand, ...rest] = extra;
  const { tokenCreateCommand, tokenListCommand, tokenRevokeCommand } = await import('./commands/token.ts');
  if (expires !== undefined && subcommand !== 'create') throw new UsageError('--expires only applies to `latch token create`');
  if (subcommand === 'create' && rest.length === 1) return tokenCreateCommand(rest[0]!, expires);
  if (subcommand === 'list' && rest.length <= 1) return tokenListCommand(rest[0]);
  if (subcommand === 'revoke' && rest.length === 1) return tokenRevokeCommand(rest[0]!);
  throw new UsageError(TOKEN_USAGE);
}

const POLICY_USAGE = '`latch policy` takes: check [file] | explain <requester> <resource> <role> <duration> | test [tests file]';

async function policySubcommand(extra: string[], options: { groups?: string | undefined; at?: string | undefined; file?: string | undefined; scope?: string[] | undefined }): Promise<void> {
  const policyFile = options.file ?? process.env.LATCH_POLICY_FILE ?? 'policy.yaml';
  const [subcommand, ...rest] = extra;
  if (options.scope !== undefined && subcommand !== 'explain') throw new UsageError('--scope only applies to `latch policy explain` (a tests file gives each case its scope)');
  if (subcommand === 'check' && rest.length <= 1) {
    const { policyCheckCommand } = await import('./commands/policy-check.ts');
    return policyCheckCommand(rest[0] ?? options.file);
  }
  if (subcommand === 'test' && rest.length <= 1) {
    const { policyTestCommand } = await import('./commands/policy-test.ts');
    return policyTestCommand(rest[0], policyFile);
  }
  if (subcommand === 'explain') {
    const [requester, resource, role, duration] = rest;
    if (!requester || !resource || !role || !duration || rest.length > 4) throw new UsageError('`latch policy explain` takes: <requester> <resource> <role> <duration>, e.g. U0ALICE prod-db read 1h');
    const at = options.at ? new Date(options.at) : new Date();
    if (Number.isNaN(at.getTime())) throw new UsageError(`--at must be a date and time such as 2026-11-24T10:00:00+01:00, not "${options.at}"`);
    const groups = (options.groups ?? '').split(',').map((group) => group.trim()).filter(Boolean);
    const { policyExplainCommand } = await import('./commands/policy-explain.ts');
    return policyExplainCommand({ requester, resource, role, duration, groups, at, file: policyFile, scope: scopeOption(options.scope) });
  }
  throw new UsageError(POLICY_USAGE);
}

/**
 * Runs `latch <argv>` and exits the process with its exit code. bin/latch.js gives no `testOnly`;
 * only a test's own entry point (test/helpers/latch-for-tests.ts) does.
 */
export function runLatchCli(argv: string[], testOnly: TestOnlySettings = {}): void {
  runCommandLine('latch', USAGE, () => main(argv, testOnly));
}

/** `latch access --ended <duration>`: how far back to list ended access (at least a minute). */
function endedWindow(text: string): number {
  const parsed = parseDuration(text);
  if (!parsed.ok) throw new UsageError(`--ended: ${parsed.message}`);
  return parsed.seconds;
}
