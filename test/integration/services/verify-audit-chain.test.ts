import pg from 'pg';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { auditHash, GENESIS_HASH } from '../../../src/domain/audit-hash.ts';
import { verifyAuditChain } from '../../../src/services/verify-audit-chain.ts';
import { appendAuditEvent, appendAuditEvents } from '../../../src/store/audit-log.ts';
import { grantAppRole } from '../../../src/store/app-role.ts';
import { createDatabase, type Database } from '../../../src/store/database.ts';
import { inTransaction } from '../../../src/store/transaction.ts';
import { runLatch } from '../../helpers/latch-process.ts';
import { adminQuery, createTestDatabase, type TestDatabase } from '../../helpers/test-database.ts';

let testDb: TestDatabase;
let db: Database;

// Each test gets its own database: tampering is the point, and it must not leak.
beforeEach(async () => {
  testDb = await createTestDatabase();
  db = createDatabase({ databaseUrl: testDb.url, poolSize: 2 });
});
afterEach(async () => {
  await db.$disconnect();
  await testDb.drop();
});

async function writeChain(length: number) {
  for (let i = 1; i <= length; i++) {
    await inTransaction(db, (tx) =>
      appendAuditEvent(tx, { actor: `U${i}`, action: 'request.created', at: new Date(Date.UTC(2026, 10, 24, 9, 0, i)), data: { n: i } }),
    );
  }
}

/**
 * Tampering as a superuser or the tables' owner could: with the append-only triggers skipped.
 * That such a person can rewrite rows is exactly why the chain must expose it.
 */
async function tamper(sql: string) {
  const client = new pg.Client({ connectionString: testDb.url });
  await client.connect();
  try {
    await client.query(`BEGIN; SET LOCAL session_replication_role = replica; ${sql}; COMMIT`);
  } finally {
    await client.end();
  }
}

describe('verifyAuditChain', () => {
  it('accepts an intact chain and reports its head', async () => {
    await writeChain(5);
    const head = await db.auditEvent.findFirstOrThrow({ where: { seq: 5n } });
    expect(await verifyAuditChain(testDb.url)).toEqual({ ok: true, events: 5, head: { seq: 5n, hash: head.hash } });
  });

  it('checks events in sequence order past the ninth (not in the order of their numbers as text)', async () => {
    await writeChain(12);
    expect(await verifyAuditChain(testDb.url)).toMatchObject({ ok: true, events: 12, head: { seq: 12n } });
  });

  it('accepts an empty chain', async () => {
    expect(await verifyAuditChain(testDb.url)).toEqual({ ok: true, events: 0, head: null });
  });

  it.each([
    ['altered', `UPDATE audit_events SET data = '{"n": 99}' WHERE seq = 3`, 3n, /does not match its hash \(altered\)/],
    ['altered actor', `UPDATE audit_events SET actor = 'U0MALLORY' WHERE seq = 2`, 2n, /altered/],
    ['removed', 'DELETE FROM audit_events WHERE seq = 3', 3n, /event 3 is missing/],
    ['removed last', 'DELETE FROM audit_events WHERE seq = 5', null, null],
    [
      'relinked',
      `UPDATE audit_events SET prev_hash = repeat('a', 64) WHERE seq = 4`,
      4n,
      /does not link to the event before it/,
    ],
    [
      'inserted',
      // Room made at 3 for a forged event linked to event 2; the old 3 becomes 4.
      `UPDATE audit_events SET seq = seq + 10 WHERE seq >= 3; UPDATE audit_events SET seq = seq - 9 WHERE seq >= 13;
       INSERT INTO audit_events (seq, at, actor, action, request_id, data, prev_hash, hash)
         SELECT 3, at, 'U0MALLORY', 'request.approved', NULL, '{}', hash, repeat('b', 64) FROM audit_events WHERE seq = 2`,
      3n,
      /event 3 does not match its hash/,
    ],
    [
      'reordered',
      'UPDATE audit_events SET seq = 100 WHERE seq = 2; UPDATE audit_events SET seq = 2 WHERE seq = 3; UPDATE audit_events SET seq = 3 WHERE seq = 100',
      2n,
      /does not link/,
    ],
  ])('finds the first broken event when one was %s', async (_how, sql, seq, message) => {
    await writeChain(5);
    await tamper(sql);
    const report = await verifyAuditChain(testDb.url);
    if (seq === null) {
      // Cutting the tail leaves a valid shorter chain: that is why digests anchor the head in Slack.
      expect(report).toMatchObject({ ok: true, events: 4 });
      return;
    }
    expect(report).toMatchObject({ ok: false, seq, message: expect.stringMatching(message!) });
  });
});

/**
 * The chain streams in as one binary COPY, in pieces cut anywhere: far enough in, an event is
 * read from the pieces of several socket reads, and the verifier stops reading at the first
 * problem.
 */
describe('verifyAuditChain over a chain of many COPY pieces', () => {
  const LENGTH = 3_000;
  async function writeLongChain() {
    await inTransaction(db, (tx) =>
      appendAuditEvents(
        tx,
        Array.from({ length: LENGTH }, (_, i) => ({
          actor: `U${i}`,
          action: 'request.created',
          at: new Date(Date.UTC(2026, 10, 24, 9, 0, 0, i * 997)),
          data: { n: i, reason: 'x'.repeat(i % 300), nested: { list: [i, null, true] } },
        })),
      ),
    );
  }

  it.each([
    ['intact', null, null],
    ['altered (its data)', `UPDATE audit_events SET data = '{"n": 2499}' WHERE seq = 2500`, [2500n, 2499, /^event 2500 does not match its hash \(altered\)$/]],
    ['altered (its time)', `UPDATE audit_events SET at = at + interval '1 millisecond' WHERE seq = 2501`, [2501n, 2500, /^event 2501 does not match its hash \(altered\)$/]],
    [
      'altered (its request)',
      `UPDATE audit_events SET request_id = '0190f0e2-0000-7000-8000-000000000001' WHERE seq = 2502`,
      [2502n, 2501, /^event 2502 does not match its hash \(altered\)$/],
    ],
    ['removed', 'DELETE FROM audit_events WHERE seq = 2600', [2600n, 2599, /^event 2600 is missing: the sequence jumps to 2601 \(removed\)$/]],
    [
      'reordered',
      'UPDATE audit_events SET seq = 100000 WHERE seq = 2700; UPDATE audit_events SET seq = 2700 WHERE seq = 2701; UPDATE audit_events SET seq = 2701 WHERE seq = 100000',
      [2700n, 2699, /^event 2700 does not link to the event before it \(inserted, replaced or reordered\)$/],
    ],
  ] as const)('reports it %s, as for a short chain', async (_how, sql, broken) => {
    await writeLongChain();
    if (sql) await tamper(sql);
    const report = await verifyAuditChain(testDb.url);
    if (!broken) {
      const head = await db.auditEvent.findFirstOrThrow({ where: { seq: BigInt(LENGTH) } });
      expect(report).toEqual({ ok: true, events: LENGTH, head: { seq: BigInt(LENGTH), hash: head.hash } });
      return;
    }
    const [seq, events, message] = broken;
    expect(report).toMatchObject({ ok: false, seq, events, message: expect.stringMatching(message) });
  });
});

describe('times as the database renders them', () => {
  it('verifies events of any year the database writes, rendered by it where Node does not', async () => {
    const times = ['0500-06-15T12:34:56.789Z', '1999-12-31T23:59:59.999Z', '2000-01-01T00:00:00.000Z', '2024-02-29T00:00:00.001Z'];
    await inTransaction(db, (tx) => appendAuditEvents(tx, times.map((at) => ({ actor: 'latch', action: 'request.created', at: new Date(at), data: {} }))));
    // Years Node does not render (to_char writes them its own way), appended by the database's own writer.
    const farTimes = ['12000-01-01 00:00:00.001+00', '0044-03-15 12:00:00+00 BC'];
    const client = new pg.Client({ connectionString: testDb.url });
    await client.connect();
    try {
      await client.query(`SELECT latch_append_audit_events($1::timestamptz[], $2::text[], $3::text[], $4::uuid[], $5::jsonb[], $6::text[], $6::text[], $6::text[])`, [
        farTimes, farTimes.map(() => 'latch'), farTimes.map(() => 'request.created'), farTimes.map(() => null), farTimes.map(() => '{}'), farTimes.map(() => null),
      ]);
    } finally {
      await client.end();
    }
    expect(await verifyAuditChain(testDb.url)).toMatchObject({ ok: true, events: times.length + farTimes.length });
    await tamper(`UPDATE audit_events SET at = '12000-01-01 00:00:00.002+00' WHERE seq = 5`);
    expect(await verifyAuditChain(testDb.url)).toMatchObject({ ok: false, seq: 5n, message: 'event 5 does not match its hash (altered)' });
  });

  it('reports an event whose time was set to infinity as it always has (the database renders no text for it)', async () => {
    await writeChain(3);
    await tamper(`UPDATE audit_events SET at = 'infinity' WHERE seq = 2`);
    expect(await verifyAuditChain(testDb.url)).toMatchObject({ ok: false, seq: 2n, message: 'event 2 has a hash format this Latch does not know (2): altered, or written by a newer Latch' });
  });
});

/**
 * Format 1 events as Latch wrote them before format 2: hashed in Node (RFC 8785), inserted without
 * a hash_format, which the column's default makes 1. As an old Latch still running during a
 * rolling upgrade would too.
 */
async function writeFormat1Chain(length: number) {
  const client = new pg.Client({ connectionString: testDb.url });
  await client.connect();
  try {
    let prevHash = GENESIS_HASH;
    for (let seq = 1n; seq <= BigInt(length); seq++) {
      const event = { seq, at: new Date(Date.UTC(2026, 9, 1, 9, 0, Number(seq))), actor: `U${seq}`, action: 'request.created', requestId: null, data: { n: Number(seq), note: 'format 1' }, prevHash };
      const hash = auditHash({ ...event, hashFormat: 1 });
      await client.query('INSERT INTO audit_events (seq, at, actor, action, request_id, data, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)', [
        seq.toString(), event.at, event.actor, event.action, null, JSON.stringify(event.data), prevHash, hash,
      ]);
      prevHash = hash;
    }
  } finally {
    await client.end();
  }
}

describe('hash formats', () => {
  it('verifies a chain of format 1 events continued by format 2 events, and finds tampering in either', async () => {
    await writeFormat1Chain(3);
    await writeChain(3);
    const formats = await db.auditEvent.findMany({ orderBy: { seq: 'asc' }, select: { seq: true, hashFormat: true } });
    expect(formats.map((event) => event.hashFormat)).toEqual([1, 1, 1, 2, 2, 2]);
    expect(await verifyAuditChain(testDb.url)).toMatchObject({ ok: true, events: 6 });

    await tamper(`UPDATE audit_events SET data = '{"n": 5, "note": "format 2"}' WHERE seq = 5`);
    expect(await verifyAuditChain(testDb.url)).toMatchObject({ ok: false, seq: 5n, events: 4, message: expect.stringMatching(/does not match its hash \(altered\)/) });
    await tamper(`UPDATE audit_events SET actor = 'U0MALLORY' WHERE seq = 2`);
    expect(await verifyAuditChain(testDb.url)).toMatchObject({ ok: false, seq: 2n, events: 1, message: expect.stringMatching(/altered/) });
  });

  it.each([
    ['claims the other known format', 'UPDATE audit_events SET hash_format = 1 WHERE seq = 2', /event 2 does not match its hash \(altered\)/],
    ['claims a format nobody wrote', 'UPDATE audit_events SET hash_format = 7 WHERE seq = 2', /event 2 has a hash format this Latch does not know \(7\)/],
  ])('reports an event that %s', async (_how, sql, message) => {
    await writeChain(3);
    await tamper(sql);
    expect(await verifyAuditChain(testDb.url)).toMatchObject({ ok: false, seq: 2n, message: expect.stringMatching(message) });
  });

  it('hashes format 2 in Node exactly as PostgreSQL does, whatever the data holds', async () => {
    const awkward = [
      { 'z': 1, 'aa': 2, 'b': 3, '10': 'integer-like keys', '9': 'sort apart in JavaScript', 'é': 'two bytes', 'ab': { '': [], 'y': {} } },
      { text: 'quotes " and \\ backslash, \n newline \t tab \u0001 control \u007f del \u2028 separator 😀 emoji, ü' },
      { numbers: [0, -0, 1, -1, 0.1, 1.5e-7, 1e21, -2.5e30, 123456789012345, 2 ** 53, 1.7976931348623157e308, 5e-324] },
      { nested: [{ b: null, a: true }, [false, 'x'], []], empty: '' },
      [1, 'array at the top'],
      'a string at the top',
      42,
      null,
    ];
    await inTransaction(db, (tx) =>
      appendAuditEvents(tx, awkward.map((data, i) => ({ actor: i === 0 ? 'U"1\nx' : 'policy:low-risk', action: 'request.created', at: new Date(Date.UTC(2026, 10, 24, 9, 0, i, 7)), data: data as never }))),
    );
    const events = await db.auditEvent.findMany({ orderBy: { seq: 'asc' } });
    expect(events).toHaveLength(awkward.length);
    for (const event of events) expect({ seq: event.seq, hash: auditHash(event) }).toEqual({ seq: event.seq, hash: event.hash });
    expect(await verifyAuditChain(testDb.url)).toMatchObject({ ok: true, events: awkward.length });
  });

  it('writes every event of a transaction in order, after its work, and none when the work fails', async () => {
    await inTransaction(db, async (tx) => {
      await appendAuditEvent(tx, { actor: 'U1', action: 'first', at: new Date(), data: {} });
      await tx.$executeRaw`SELECT 1`;
      await appendAuditEvents(tx, [
        { actor: 'U1', action: 'second', at: new Date(), data: {} },
        { actor: 'U1', action: 'third', at: new Date(), data: {} },
      ]);
    });
    await expect(
      inTransaction(db, async (tx) => {
        await appendAuditEvent(tx, { actor: 'U1', action: 'rolled back', at: new Date(), data: {} });
        throw new Error('the state change failed');
      }),
    ).rejects.toThrow('the state change failed');
    expect((await db.auditEvent.findMany({ orderBy: { seq: 'asc' } })).map((event) => [event.seq, event.action])).toEqual([
      [1n, 'first'],
      [2n, 'second'],
      [3n, 'third'],
    ]);
    expect(await verifyAuditChain(testDb.url)).toMatchObject({ ok: true, events: 3 });
  });

  it('refuses an event appended outside inTransaction, which would never write it', async () => {
    await expect(db.$transaction((tx) => appendAuditEvent(tx, { actor: 'U1', action: 'lost', at: new Date(), data: {} }))).rejects.toThrow(/inside inTransaction/);
  });
});

describe('the append-only audit table', () => {
  it.each([
    ['UPDATE', `UPDATE audit_events SET actor = 'U0MALLORY' WHERE seq = 1`],
    ['DELETE', 'DELETE FROM audit_events WHERE seq = 1'],
    ['TRUNCATE', 'TRUNCATE audit_events'],
  ])('refuses %s, even through the app’s own connection', async (operation, sql) => {
    await writeChain(2);
    await expect(db.$executeRawUnsafe(sql)).rejects.toThrow(new RegExp(`audit_events is append-only: ${operation} is not allowed`));
    expect(await verifyAuditChain(testDb.url)).toMatchObject({ ok: true, events: 2 });
  });
});

describe('running as a role that does not own the tables (README: Protecting the audit trail)', () => {
  it('can append audit events, but neither rewrite them nor switch off the guard', async () => {
    const role = `latch_app_${Math.random().toString(36).slice(2, 10)}`;
    await tamper(`CREATE ROLE ${role} LOGIN`);
    // The README's grants, from the one file that lists them.
    await grantAppRole(testDb.url, role);
    const url = new URL(testDb.url);
    url.username = role;
    const appDb = createDatabase({ databaseUrl: url.toString(), poolSize: 1 });
    try {
      await inTransaction(appDb, (tx) => appendAuditEvent(tx, { actor: 'U1', action: 'request.created', at: new Date(), data: {} }));
      await expect(appDb.$executeRawUnsafe(`UPDATE audit_events SET actor = 'x'`)).rejects.toThrow(/permission denied|append-only/);
      await expect(appDb.$executeRawUnsafe('ALTER TABLE audit_events DISABLE TRIGGER ALL')).rejects.toThrow(/must be owner/);
      await expect(appDb.$executeRawUnsafe('DELETE FROM audit_events')).rejects.toThrow(/permission denied|append-only/);
      expect(await verifyAuditChain(testDb.url)).toMatchObject({ ok: true, events: 1 });
    } finally {
      await appDb.$disconnect();
      // Roles are cluster-wide: drop the database holding its privileges, then the role itself.
      await testDb.drop();
      await adminQuery(inject('adminDatabaseUrl'), `DROP ROLE ${role}`);
    }
  });
});

// Two `latch audit verify` processes, each also comparing the state rows and decisions.
describe('latch audit verify', { timeout: 90_000 }, () => {
  it('exits 0 with the head when intact and 1 naming the event when not', async () => {
    await writeChain(3);
    const intact = await runLatch(['audit', 'verify'], { DATABASE_URL: testDb.url });
    expect(intact.code).toBe(0);
    expect(intact.stdout).toMatch(/^audit chain intact: 3 events verified; head: event 3, hash [0-9a-f]{64}\nstate: 0 requests checked against their events, 0 mismatch\(es\)\n/);
    await tamper(`UPDATE audit_events SET action = 'request.approved' WHERE seq = 2`);
    const broken = await runLatch(['audit', 'verify'], { DATABASE_URL: testDb.url });
    expect(broken.code).toBe(1);
    expect(broken.stderr).toBe('latch: audit chain broken at event 2: event 2 does not match its hash (altered) (1 events before it verified)\n');
  });
});
