import { once } from 'node:events';
import { migrateEnvSchema } from '../../config/env.ts';
import { auditExportBytes, csvRow, CSV_HEADER, jsonLine, type ExportPeriod } from '../../services/export-audit-events.ts';
import { createDatabase } from '../../store/database.ts';
import { readEnv } from '../read-env.ts';

export type ExportFormat = 'jsonl' | 'csv';

/**
 * `latch audit export [--since t] [--until t] [--format jsonl|csv]`: the audit events of a period
 * on stdout, for a SIEM, with their chain hashes. Streams: a piece is read only once the last one
 * was written out (waiting for 'drain' when stdout is a slow pipe), so memory stays flat however
 * many millions of events there are (auditExportBytes).
 */
export async function auditExportCommand(period: ExportPeriod, format: ExportFormat, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const env = readEnv(migrateEnvSchema);
  const db = createDatabase({ databaseUrl: env.DATABASE_URL, poolSize: 2 });
  const write = async (chunk: string | Buffer) => {
    if (!out.write(chunk)) await once(out, 'drain');
  };
  let exported = 0;
  try {
    if (format === 'csv') await write(CSV_HEADER);
    for await (const { bytes, events } of auditExportBytes(db, period, format === 'csv' ? csvRow : jsonLine)) {
      await write(bytes);
      exported += events;
    }
  } finally {
    await db.$disconnect();
  }
  return exported;
}
