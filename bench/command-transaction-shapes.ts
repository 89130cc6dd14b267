/**
 * `npx tsx bench/command-transaction-shapes.ts`: the client CPU of a slash command's transaction in
 * two shapes, in one process, on one real database, interleaved, so that what else the machine is
 * doing weighs on both alike (`npm run bench`'s cpu section compares runs minutes apart, and on a
 * shared machine their difference drowns in the load's). Issue 19:
 *
 *   6 round trips (main before cmd19): BEGIN / the requester's lock by hashtext / the risk history
 *     / the insert / the audit append / COMMIT
 *   4 round trips (now): BEGIN with the requester's lock (an opening statement) / the risk history /
 *     the insert with its audit append (one statement) / COMMIT
 *
 * Both through the store's own functions. Transactions are paced at BENCH_SHAPES_RATE a second
 * (40), so the process idles between them as `latch web` does at 40/s: a round trip it sleeps on
 * costs a wake-up. Shapes alternate in blocks of 20; the CPU (process.cpuUsage) of each block goes
 * to its shape. BENCH_SHAPES_COUNT (1200) transactions of each shape; BENCH_DATABASE_URL: a
 * superuser URL (default the services' PostgreSQL).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { appendAuditEvents } from '../src/store/audit-log.ts';
import { createDatabase, type Database } from '../src/store/database.ts';
import { migrateDatabase } from '../src/store/migrate.ts';
import { insertRequest, type NewRequest } from '../src/store/request-insert.ts';
import { lockingRequester } from '../src/store/requester-lock.ts';
import { loadRiskHistory } from '../src/store/risk-history.ts';
import { inSqlTransaction } from '../src/store/transaction.ts';
import { uuidV7 } from '../src/store/uuid-v7.ts';
import { createLogger } from '../src/logging/logger.ts';
import { createBenchDatabase } from './services.ts';

type Shape = 'six round trips' | 'four round trips';

const count = Number(process.env.BENCH_SHAPES_COUNT ?? 1200);
const rate = Number(process.env.BENCH_SHAPES_RATE ?? 40);
const BLOCK = 20;

function newRequest(i: number): NewRequest & { id: string } {
  const now = new Date();
  return {
    id: uuidV7(now.getTime()),
    requesterSlackId: `U0BENCH${String(i % 500).padStart(4, '0')}`,
    slackTeamId: 'T0BENCH',
    resourceId: 'prod-db',
    role: 'read',
    principal: null,
    durationSeconds: 7200,
    startsAt: null,
    reason: `benchmark request #${i}`,
    ticket: null,
    requiredApprovals: 1,
    requiredGroups: [],
    policyVersion: 'bench',
    approvalChannelId: 'C0BENCH',
    pendingExpiresAt: new Date(now.getTime() + 86_400_000),
    decidedAt: null,
    decidedByRule: null,
    breakGlass: false,
    reviewDueAt: null,
    submissionKey: null,
    createdAt: now,
    bundleId: null,
    bundlePosition: null,
    state: 'pending',
  };
}

async function command(db: Database, shape: Shape, i: number): Promise<void> {
  const request = newRequest(i);
  const event = { actor: request.requesterSlackId, action: 'request.created', requestId: request.id, at: request.createdAt, data: { reason: request.reason } };
  const about = { requesterId: request.requesterSlackId, resourceId: request.resourceId, role: request.role };
  if (shape === 'six round trips') {
    await inSqlTransaction(db, async (tx) => {
      await tx.rows('SELECT pg_advisory_xact_lock($1::int, hashtext($2))', [4918, request.requesterSlackId]);
      await loadRiskHistory(tx, about, request.createdAt);
      if (await insertRequest(tx, request, 1_000_000, { withAuditEvents: false })) await appendAuditEvents(tx, [event]);
    });
  } else {
    await inSqlTransaction(
      db,
      async (tx) => {
        await loadRiskHistory(tx, about, request.createdAt);
        await appendAuditEvents(tx, [event]);
        await insertRequest(tx, request, 1_000_000, { withAuditEvents: true });
      },
      lockingRequester(request.requesterSlackId),
    );
  }
}

async function main(): Promise<void> {
  const database = await createBenchDatabase(process.env.BENCH_DATABASE_URL ?? 'postgresql://latch@127.0.0.1:54329/postgres');
  const db = createDatabase({ databaseUrl: database.url, poolSize: 4 });
  try {
    await migrateDatabase({ databaseUrl: database.url, logger: createLogger({ level: 'silent' }) });
    // Warm-up, not counted: the JIT, the pool's connections, the tables' first pages.
    for (let i = 0; i < 200; i += 1) await command(db, i % 2 === 0 ? 'six round trips' : 'four round trips', i);
    const cpuMs: Record<Shape, number> = { 'six round trips': 0, 'four round trips': 0 };
    const gapMs = 1000 / rate;
    for (let block = 0; block < (2 * count) / BLOCK; block += 1) {
      const shape: Shape = block % 2 === 0 ? 'six round trips' : 'four round trips';
      const before = process.cpuUsage();
      for (let i = 0; i < BLOCK; i += 1) {
        const started = performance.now();
        await command(db, shape, block * BLOCK + i);
        await sleep(Math.max(0, gapMs - (performance.now() - started)));
      }
      const used = process.cpuUsage(before);
      cpuMs[shape] += (used.user + used.system) / 1000;
    }
    for (const shape of Object.keys(cpuMs) as Shape[]) console.log(`${shape}: ${(cpuMs[shape] / count).toFixed(3)} ms client CPU per command transaction (${count} at ${rate}/s)`);
    console.log(`saved: ${((cpuMs['six round trips'] - cpuMs['four round trips']) / count).toFixed(3)} ms per command`);
  } finally {
    await db.$disconnect();
    await database.drop();
  }
}

await main();
