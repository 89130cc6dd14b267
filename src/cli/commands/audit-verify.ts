import { migrateEnvSchema } from '../../config/env.ts';
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
