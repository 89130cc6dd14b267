import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { migrateEnvSchema } from '../../config/env.ts';
import { AuditChainChecker } from '../../domain/audit-chain.ts';
import { parseJsonLine } from '../../services/export-audit-events.ts';
import { verifyAuditChain } from '../../services/verify-audit-chain.ts';
import { createDatabase } from '../../store/database.ts';
import { CliError } from '../cli-error.ts';
import { readEnv } from '../read-env.ts';

/**
 * `latch audit verify`: checks the whole hash chain; exit 0 and the chain head when intact, exit 1
 * and the first broken event otherwise — for CI, cron, or an auditor.
 */
export async function auditVerifyCommand(): Promise<void> {
  const env = readEnv(migrateEnvSchema);
  const db = createDatabase({ databaseUrl: env.DATABASE_URL, poolSize: 2 });
  try {
    const report = await verifyAuditChain(db);
    if (!report.ok) throw new CliError(`audit chain broken at event ${report.seq}: ${report.message} (${report.events} events before it verified)`);
    const head = report.head ? `head: event ${report.head.seq}, hash ${report.head.hash}` : 'the chain is empty';
    process.stdout.write(`audit chain intact: ${report.events} events verified; ${head}\n`);
  } finally {
    await db.$disconnect();
  }
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
