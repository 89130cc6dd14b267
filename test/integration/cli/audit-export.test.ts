import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChainedEvent } from '../../../src/domain/audit-chain.ts';
import { decideRequest } from '../../../src/services/decide-request.ts';
import { csvRow, CSV_HEADER, jsonLine } from '../../../src/services/export-audit-events.ts';
import { requestAccess } from '../../../src/services/request-access.ts';
import { appendAuditEvents } from '../../../src/store/audit-log.ts';
import { createDatabase, type Database } from '../../../src/store/database.ts';
import { inTransaction } from '../../../src/store/transaction.ts';
import { runLatch } from '../../helpers/latch-process.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/test-database.ts';
import { testPolicy } from '../../helpers/test-policy.ts';
import { testServiceContext } from '../../helpers/test-services.ts';

let testDb: TestDatabase;
let db: Database;
const dir = mkdtempSync(join(tmpdir(), 'latch-export-'));
// Three days of history, one request a day, the second one approved.
const DAYS = ['2026-11-01T10:00:00Z', '2026-11-02T10:00:00Z', '2026-11-03T10:00:00Z'];

beforeAll(async () => {
  testDb = await createTestDatabase();
  db = createDatabase({ databaseUrl: testDb.url, poolSize: 2 });
  const { ctx, clock } = testServiceContext(db, testPolicy());
  for (const [index, day] of DAYS.entries()) {
    clock.advance((new Date(day).getTime() - clock.now().getTime()) / 1000);
    const made = await requestAccess(ctx, { requesterId: 'U0REQUESTER', resourceId: 'prod-db', role: 'read', duration: '1h', reason: `day ${index + 1}: "quoted", with a comma\nand a newline`, ticket: null });
    if (!made.ok) throw new Error(JSON.stringify(made.refusal));
    if (index === 1) await decideRequest(ctx, { requestId: made.requestId, deciderId: 'U0APPROVER1', decision: 'approve' });
  }
});
afterAll(async () => {
  await db.$disconnect();
  await testDb.drop();
});

const env = () => ({ DATABASE_URL: testDb.url });
async function exportTo(name: string, ...args: string[]) {
  const result = await runLatch(['audit', 'export', ...args], env());
  expect(result.code).toBe(0);
  const file = join(dir, name);
  writeFileSync(file, result.stdout);
  return { file, result };
}

describe('latch audit export', () => {
  it('writes every event as a JSON line with its hashes, and the export verifies on its own', async () => {
    const { file, result } = await exportTo('all.jsonl');
    const lines = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    // created, created, approval.recorded, approved, created
    expect(lines.map((line) => line.seq)).toEqual(['1', '2', '3', '4', '5']);
    expect(lines.map((line) => line.action)).toEqual(['request.created', 'request.created', 'approval.recorded', 'request.approved', 'request.created']);
    expect(lines[0]).toMatchObject({ prevHash: '0'.repeat(64), hash: expect.stringMatching(/^[0-9a-f]{64}$/), hashFormat: 2 });
    expect(result.stderr).toBe('latch: exported 5 audit event(s)\n');

    const verified = await runLatch(['audit', 'verify', '--file', file], {});
    expect(verified.code).toBe(0);
    expect(verified.stdout).toBe(`export intact: 5 events, 1 to 5; event 1 links to ${'0'.repeat(64)}; head hash ${String(lines[4]!.hash)}\n`);
  });

  it('exports a period as an unbroken stretch of the chain, linked to the event before it', async () => {
    const { file, result } = await exportTo('day2.jsonl', '--since', '2026-11-02', '--until', '2026-11-03');
    const lines = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, string>);
    expect(lines.map((line) => line.seq)).toEqual(['2', '3', '4']);
    const all = readFileSync(join(dir, 'all.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, string>);
    const verified = await runLatch(['audit', 'verify', '--file', file], {});
    expect(verified.stdout).toBe(`export intact: 3 events, 2 to 4; event 2 links to ${all[0]!.hash}; head hash ${all[3]!.hash}\n`);
  });

  it('names the first altered or removed event of a tampered export', async () => {
    const lines = readFileSync(join(dir, 'all.jsonl'), 'utf8').trim().split('\n');
    const altered = [...lines];
    altered[2] = altered[2]!.replace('"decision":"approve"', '"decision":"deny"');
    writeFileSync(join(dir, 'altered.jsonl'), `${altered.join('\n')}\n`);
    const alteredResult = await runLatch(['audit', 'verify', '--file', join(dir, 'altered.jsonl')], {});
    expect(alteredResult.code).toBe(1);
    expect(alteredResult.stderr).toContain('export broken at event 3: event 3 does not match its hash (altered) (2 events before it verified)');

    writeFileSync(join(dir, 'removed.jsonl'), `${lines.filter((_, index) => index !== 3).join('\n')}\n`);
    const removed = await runLatch(['audit', 'verify', '--file', join(dir, 'removed.jsonl')], {});
    expect(removed.stderr).toContain('export broken at event 4: event 4 is missing: the sequence jumps to 5 (removed)');
  });

  it('writes CSV with every field quoted, so reasons with quotes, commas and newlines stay whole', async () => {
    const { result } = await exportTo('all.csv', '--format', 'csv');
    expect(result.stdout.startsWith('seq,at,actor,action,request_id,data,prev_hash,hash,hash_format\n"1","2026-11-01T10:00:00.000Z","U0REQUESTER","request.created","')).toBe(true);
    expect(result.stdout).toContain('day 1: \\""quoted\\"", with a comma\\nand a newline');
  });

  it('refuses a format it does not know, and a time that is not one', async () => {
    expect((await runLatch(['audit', 'export', '--format', 'xml'], env())).stderr).toContain('--format must be jsonl or csv, not "xml"');
    const badTime = await runLatch(['audit', 'export', '--since', 'yesterday'], env());
    expect(badTime.code).toBe(64);
    expect(badTime.stderr).toContain('--since must be a date or time');
  });
});

describe('latch audit export of a long chain', () => {
  let longDb: TestDatabase;
  let longDatabase: Database;
  beforeAll(async () => {
    longDb = await createTestDatabase();
    longDatabase = createDatabase({ databaseUrl: longDb.url, poolSize: 2 });
    // Enough events for many pieces of the stream (64 KiB each), among them one larger than a
    // piece, and text that is not ASCII (several bytes a character in UTF-8).
    await inTransaction(longDatabase, (tx) =>
      appendAuditEvents(
        tx,
        Array.from({ length: 2_000 }, (_, i) => ({
          actor: i % 7 === 0 ? `Ü${i}` : `U${i}`,
          action: 'request.created',
          at: new Date(Date.UTC(2026, 10, 24, 9, 0, 0, i * 997)),
          data: { n: i, reason: i === 1_000 ? 'ß☃𝄞"\n'.repeat(20_000) : `why ${'ü'.repeat(i % 300)}`, big: 12345678901234567890, nested: { list: [i, null, true, 1.5] } },
        })),
      ),
    );
  });
  afterAll(async () => {
    await longDatabase.$disconnect();
    await longDb.drop();
  });

  /** Every event as pg reads it in text mode, one query: what the export must write for each. */
  async function eventsAsPgReadsThem(): Promise<ChainedEvent[]> {
    const { rows } = await longDatabase.pool.query<{ seq: string; at: Date; actor: string; action: string; request_id: string | null; data: unknown; prev_hash: string; hash: string; hash_format: number }>(
      'SELECT seq, at, actor, action, request_id, data, prev_hash, hash, hash_format FROM audit_events ORDER BY seq',
    );
    return rows.map((row) => ({ seq: BigInt(row.seq), at: row.at, actor: row.actor, action: row.action, requestId: row.request_id, data: row.data, prevHash: row.prev_hash, hash: row.hash, hashFormat: row.hash_format }));
  }

  it('writes every event whole and in order, the one larger than a piece included, in both formats', async () => {
    const expected = await eventsAsPgReadsThem();
    expect(expected).toHaveLength(2_000);
    const jsonl = await runLatch(['audit', 'export'], { DATABASE_URL: longDb.url });
    expect(jsonl.code).toBe(0);
    expect(jsonl.stderr).toBe('latch: exported 2000 audit event(s)\n');
    expect(jsonl.stdout).toBe(expected.map(jsonLine).join(''));
    const csv = await runLatch(['audit', 'export', '--format', 'csv'], { DATABASE_URL: longDb.url });
    expect(csv.code).toBe(0);
    expect(csv.stdout).toBe(CSV_HEADER + expected.map(csvRow).join(''));

    const file = join(dir, 'long.jsonl');
    writeFileSync(file, jsonl.stdout);
    const verified = await runLatch(['audit', 'verify', '--file', file], {});
    expect(verified.stdout).toContain('export intact: 2000 events, 1 to 2000');
  });

  it('exports the stretch of a period from its first event to its last', async () => {
    const expected = (await eventsAsPgReadsThem()).filter((event) => event.at >= new Date('2026-11-24T09:03:00Z') && event.at < new Date('2026-11-24T09:25:00Z'));
    expect(expected.length).toBeGreaterThan(1_000);
    const result = await runLatch(['audit', 'export', '--since', '2026-11-24T09:03:00Z', '--until', '2026-11-24T09:25:00Z'], { DATABASE_URL: longDb.url });
    expect(result.stdout).toBe(expected.map(jsonLine).join(''));
    expect(result.stderr).toBe(`latch: exported ${expected.length} audit event(s)\n`);
  });
});
