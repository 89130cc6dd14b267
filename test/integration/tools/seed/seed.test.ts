import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, type Database } from '../../../../src/store/database.ts';
import { runLatch, runSeed } from '../../../helpers/latch-process.ts';
import { createTestDatabase, type TestDatabase } from '../../../helpers/test-database.ts';

// The example names PROD_DB_ADMIN_URL and AWS_WEBHOOK_SECRET for its providers; the seed never
// builds a real provider, so neither is set here.
const EXAMPLE_POLICY = fileURLToPath(new URL('../../../../policy.example.yaml', import.meta.url));
const SEEDING = 360_000; // about 100 s on a busy 2-core machine

let first: TestDatabase;
let second: TestDatabase;
let db: Database;

beforeAll(async () => {
  [first, second] = await Promise.all([createTestDatabase(), createTestDatabase()]);
  db = createDatabase({ databaseUrl: first.url, poolSize: 2 });
});
afterAll(async () => {
  await db?.$disconnect();
  await Promise.all([first?.drop(), second?.drop()]);
});

const env = (database: TestDatabase) => ({ DATABASE_URL: database.url, LATCH_POLICY_FILE: EXAMPLE_POLICY });

async function statesIn(database: Database): Promise<Record<string, number>> {
  const rows = await database.$queryRaw<Array<{ state: string; count: bigint }>>`SELECT state::text AS state, count(*) AS count FROM access_requests GROUP BY state`;
  return Object.fromEntries(rows.map((row) => [row.state, Number(row.count)]));
}

/** The "requests by state" lines of the summary, as numbers. */
function summaryStates(stdout: string): Record<string, number> {
  return Object.fromEntries([...stdout.matchAll(/^ {2}([a-z]+) +(\d+)$/gm)].map((match) => [match[1]!, Number(match[2])]));
}

describe('npm run seed', () => {
  let firstStates: Record<string, number>;

  it(
    'writes 200 requests of history through the use cases, in a mix of outcomes, with an intact audit chain',
    async () => {
      const seeded = await runSeed(['--requests', '200', '--seed', '1'], env(first));
      expect(seeded.stderr).toBe('');
      expect(seeded.code).toBe(0);
      expect(await db.accessRequest.count()).toBe(200);

      firstStates = await statesIn(db);
      // Most used and revoked at expiry, some denied, cancelled or expired, a few still open.
      for (const state of ['revoked', 'denied', 'cancelled', 'expired', 'active', 'pending']) expect(firstStates[state], state).toBeGreaterThan(0);
      expect(firstStates.revoked).toBeGreaterThan(100);
      expect(summaryStates(seeded.stdout)).toEqual(firstStates);
      const auditEvents = await db.auditEvent.count();
      expect(seeded.stdout).toContain(`audit events written: ${auditEvents}\n`);
      expect(seeded.stdout).toMatch(/^seeded 200 access requests from .* \(30 days, \d+ people, seed 1\)$/m);
      expect(seeded.stdout).toMatch(/^elapsed: [\d.]+ s, [\d.]+ requests\/s$/m);

      // Every revocation in the audit trail closed its grant, and every revoked request's grant is closed.
      const [links] = await db.$queryRaw<Array<{ events: bigint; open: bigint }>>`
        SELECT count(*) AS events, count(*) FILTER (WHERE g.revoked_at IS NULL) AS open
        FROM audit_events e LEFT JOIN grants g ON g.id = (e.data->>'grantId')::uuid WHERE e.action = 'grant.revoked'`;
      expect(Number(links!.events)).toBeGreaterThan(100);
      expect(Number(links!.open)).toBe(0);
      expect(await db.accessRequest.count({ where: { state: 'revoked', grant: { revokedAt: null } } })).toBe(0);
      // Approvals, auto-approvals, break-glass and its review are there too.
      const actions = new Set((await db.auditEvent.findMany({ distinct: ['action'], select: { action: true } })).map((event) => event.action));
      for (const action of ['approval.recorded', 'request.approved', 'grant.granted', 'grant.end_requested', 'request.reviewed']) expect(actions, action).toContain(action);
      expect(await db.accessRequest.count({ where: { breakGlass: true } })).toBeGreaterThan(0);
      expect(await db.accessRequest.count({ where: { extendsRequestId: { not: null } } })).toBeGreaterThan(0);

      const verified = await runLatch(['audit', 'verify', '--allow-unsigned'], { DATABASE_URL: first.url });
      expect(verified.code).toBe(0);
      expect(verified.stdout).toContain(`audit chain intact: ${auditEvents} events verified`);
    },
    SEEDING,
  );

  it(
    'writes the same outcomes again from the same seed, on another database',
    async () => {
      const seeded = await runSeed(['--requests', '200', '--seed', '1'], env(second));
      expect(seeded.code).toBe(0);
      const other = createDatabase({ databaseUrl: second.url, poolSize: 1 });
      try {
        expect(await statesIn(other)).toEqual(firstStates);
      } finally {
        await other.$disconnect();
      }
    },
    SEEDING,
  );

  it(
    'refuses a database that already holds requests unless --force',
    async () => {
      const refused = await runSeed(['--requests', '5', '--seed', '2'], env(first));
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('seed: the database already holds 200 access request(s)');
      expect(refused.stderr).toContain('--force');
      expect(await db.accessRequest.count()).toBe(200);

      const forced = await runSeed(['--requests', '5', '--seed', '2', '--force'], env(first));
      expect(forced.code).toBe(0);
      expect(await db.accessRequest.count()).toBe(205);
      expect((await runLatch(['audit', 'verify', '--allow-unsigned'], { DATABASE_URL: first.url })).code).toBe(0);
    },
    SEEDING,
  );

  it('asks for the number of requests', async () => {
    const result = await runSeed([], env(first));
    expect(result.code).toBe(64);
    expect(result.stderr).toContain('seed: `npm run seed` needs --requests N');
  });

  it('is a development tool: the product `latch` has no seed command', async () => {
    const result = await runLatch(['seed'], env(first));
    expect(result.code).toBe(64);
    expect(result.stderr).toContain('latch: unknown command "seed"');
  });
});
