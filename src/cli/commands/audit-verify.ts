import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { migrateEnvSchema, serviceEnvFields } from '../../config/env.ts';
import { AuditChainChecker } from '../../domain/audit-chain.ts';
import { parseJsonLine } from '../../services/export-audit-events.ts';
import { verifyAuditChain, type ChainAnchor } from '../../services/verify-audit-chain.ts';
import type { AuditRecordsReport } from '../../services/verify-audit-records.ts';
import { CliError } from '../cli-error.ts';
import { readEnv } from '../read-env.ts';

/** The signing secret is optional here: without it every check but the signatures' runs. */
const verifyEnvSchema = migrateEnvSchema.extend({ SLACK_SIGNING_SECRET: serviceEnvFields.shape.SLACK_SIGNING_SECRET.optional() });

/** At most this many problems of each kind are printed; the counts are always whole. */
const MAX_LISTED = 50;

/**
 * `latch audit verify [--anchor seq:hash]`: checks the whole hash chain (up to a head published
 * elsewhere, when given), then that the state rows are what the events say and that every person's
 * decision comes with the signed Slack request that made it (checked with SLACK_SIGNING_SECRET
 * when set). Exit 0 and a summary when all holds, exit 1 and each problem otherwise — for CI,
 * cron, or an auditor.
 */
export async function auditVerifyCommand(options: { anchor?: ChainAnchor | undefined; allowUnsigned?: boolean; chainOnly?: boolean } = {}): Promise<void> {
  const { anchor } = options;
  const env = readEnv(verifyEnvSchema);
  const report = await verifyAuditChain(env.DATABASE_URL, anchor);
  if (!report.ok) throw new CliError(`audit chain broken at event ${report.seq}: ${report.message} (${report.events} events before it verified)`);
  const head = report.head ? `head: event ${report.head.seq}, hash ${report.head.hash}` : 'the chain is empty';
  process.stdout.write(`audit chain intact: ${report.events} events verified; ${head}${anchor ? `; anchor event ${anchor.seq} matches` : ''}\n`);
  if (options.chainOnly) return;
  // Loaded only now: the ORM is most of a start-up, and the chain's check (all of --chain-only) needs none of it.
  const [{ createDatabase }, { verifyAuditRecords }, { decisionInteractions }] = await Promise.all([
    import('../../store/database.ts'),
    import('../../services/verify-audit-records.ts'),
    import('../../slack/decision-interactions.ts'),
  ]);
  const db = createDatabase({ databaseUrl: env.DATABASE_URL, poolSize: 2 });
  try {
    const records = await verifyAuditRecords(db, { signingSecret: env.SLACK_SIGNING_SECRET ?? null, interactions: decisionInteractions });
    process.stdout.write(`${recordsSummary(records)}\n`);
    const { socketMode, seeded } = records.decisions;
    // Anyone who can append events can claim Socket Mode: accepted only when the operator says so.
    const unsigned =
      !options.allowUnsigned && socketMode + seeded > 0
        ? [`${socketMode + seeded} decision(s) carry no Slack signature (Socket Mode or seeded): pass --allow-unsigned if this Latch ran in Socket Mode`]
        : [];
    const problems = [
      ...records.mismatches.map((m) => `${m.table} ${m.id}: ${m.field} is ${m.found}, its audit events say ${m.expected}`),
      ...records.decisions.problems,
      ...unsigned,
    ];
    if (problems.length > 0) {
      for (const problem of problems.slice(0, MAX_LISTED)) process.stderr.write(`${problem}\n`);
      if (problems.length > MAX_LISTED) process.stderr.write(`… and ${problems.length - MAX_LISTED} more\n`);
      throw new CliError(
        `the records do not agree with the audit chain: ${records.mismatches.length} state field(s) differ from the events, ${records.decisions.problems.length} decision(s) without valid evidence`,
      );
    }
  } finally {
    await db.$disconnect();
  }
}

function recordsSummary({ requests, mismatches, decisions }: AuditRecordsReport): string {
  const unsigned = [
    decisions.socketMode > 0 ? `${decisions.socketMode} unsigned (Socket Mode)` : null,
    decisions.predateEvidence > 0 ? `${decisions.predateEvidence} predate evidence` : null,
    decisions.seeded > 0 ? `${decisions.seeded} seeded (simulated)` : null,
  ].filter(Boolean);
  const signed = `${decisions.signed} signed by Slack${decisions.signatureChecked ? ' (signatures verified)' : ' (signatures not checked: SLACK_SIGNING_SECRET is not set)'}`;
  return [
    `state: ${requests} requests checked against their events, ${mismatches.length} mismatch(es)`,
    `decisions: ${signed}${unsigned.length > 0 ? `, ${unsigned.join(', ')}` : ''}, ${decisions.problems.length} without valid evidence`,
  ].join('\n');
}

/** `--anchor 1234:<hash>`, as a digest posts the chain head. */
export function parseAnchor(text: string): ChainAnchor | null {
  const match = /^(\d{1,18}):([0-9a-f]{64})$/.exec(text.trim());
  return match ? { seq: BigInt(match[1]!), hash: match[2]! } : null;
}

/**
 * `latch audit verify --file export.jsonl`: checks an export from `latch audit export` on its
 * own, without the database: every event's hash and every link after the first. The first
 * event's link and the last event's hash are printed, to compare with the chain or with a head
 * published elsewhere (the digests).
 */
export async function auditVerifyFileCommand(path: string): Promise<void> {
  const checker = new AuditChainChecker('first-event');
  let first: { seq: bigint; prevHash: string } | null = null;
  let lineNumber = 0;
  const lines = createInterface({ input: createReadStream(path).on('error', () => undefined), crlfDelay: Infinity });
  try {
    for await (const line of lines) {
      lineNumber += 1;
      if (line.trim() === '') continue;
      let event;
      try {
        event = parseJsonLine(line);
      } catch (error) {
        throw new CliError(`${path}: line ${lineNumber} is not an audit event: ${(error as Error).message}`);
      }
      first ??= { seq: event.seq, prevHash: event.prevHash };
      const problem = checker.check(event);
      if (problem) throw new CliError(`${path}: export broken at event ${problem.seq}: ${problem.message} (${checker.events} events before it verified)`);
    }
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const head = checker.head;
  if (!first || !head) throw new CliError(`${path}: holds no audit events`);
  process.stdout.write(`export intact: ${checker.events} events, ${first.seq} to ${head.seq}; event ${first.seq} links to ${first.prevHash}; head hash ${head.hash}\n`);
}
