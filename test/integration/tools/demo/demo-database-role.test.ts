import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { APPROVALS_CHANNEL, REQUESTER } from '../../../../tools/demo/demo-cast.ts';
import { ANALYTICS_RESOURCE } from '../../../../tools/demo/demo-policy.ts';
import { startDemoUnderTest, type DemoUnderTest } from '../../../helpers/demo-under-test.ts';

/**
 * `npm run demo` runs Latch as the README says to run it in production: the tables' owner migrates,
 * and `latch start` connects as a role that owns nothing and holds only what prisma/app-role.sql
 * grants. So even the demo's Latch cannot rewrite the audit trail or switch off its triggers, and
 * the demo proves those grants are enough for the whole service.
 */

let demo: DemoUnderTest;
let admin: pg.Client;

beforeAll(async () => {
  demo = await startDemoUnderTest();
  admin = new pg.Client({ connectionString: inject('adminDatabaseUrl') });
  await admin.connect();
});

afterAll(async () => {
  await admin?.end();
  await demo?.stop();
});

/** A connection with exactly the URL the demo gave Latch. */
async function asLatch<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: demo.stack.latchEnv.DATABASE_URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function sandboxCall(method: 'GET' | 'POST', path: string, body?: unknown): Promise<Record<string, any>> {
  const response = await fetch(new URL(path, demo.stack.sandboxUrl), {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as Record<string, any>;
}

describe("the demo's database roles", () => {
  it("runs Latch as the app role, which owns none of Latch's tables", async () => {
    const url = new URL(demo.stack.latchEnv.DATABASE_URL!);
    expect(decodeURIComponent(url.username)).toBe(demo.names.appRole);
    const { rows: owners } = await asLatch((client) =>
      client.query<{ owner: string }>(`SELECT DISTINCT tableowner AS owner FROM pg_tables WHERE schemaname = 'public'`),
    );
    expect(owners.map((row) => row.owner)).not.toContain(demo.names.appRole);
    const { rows: role } = await admin.query<{ rolsuper: boolean; rolcreaterole: boolean }>('SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = $1', [demo.names.appRole]);
    expect(role).toEqual([{ rolsuper: false, rolcreaterole: false }]);

    // Every connection the running `latch start` holds to its database is the app role's.
    const { rows: sessions } = await admin.query<{ usename: string }>(`SELECT usename FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend'`, [demo.names.latchDatabase]);
    expect(sessions.length).toBeGreaterThan(0);
    expect(new Set(sessions.map((session) => session.usename))).toEqual(new Set([demo.names.appRole]));
  });

  it('serves a request on those grants alone, and cannot rewrite the audit trail nor switch off its guard', async () => {
    // A request through the sandbox, as the page sends it: Latch stores it, audits it and posts it.
    await sandboxCall('POST', '/sandbox/api/messages', { user: REQUESTER.id, channel: APPROVALS_CHANNEL.id, text: `/request-access ${ANALYTICS_RESOURCE} read 30m checking the role split` });
    const deadline = Date.now() + 20_000;
    for (;;) {
      const { messages } = await sandboxCall('GET', `/sandbox/api/conversation?user=${REQUESTER.id}&channel=${APPROVALS_CHANNEL.id}`);
      if ((messages as Array<{ html: string }>).some((message) => message.html.includes('checking the role split') && message.html.includes('latch_approve'))) break;
      if (Date.now() > deadline) throw new Error('the approval message never came');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const { rows: events } = await asLatch((client) => client.query<{ count: string }>('SELECT count(*) FROM audit_events'));
    expect(Number(events[0]!.count)).toBeGreaterThan(0);

    await asLatch(async (client) => {
      await expect(client.query(`UPDATE audit_events SET actor = 'U0MALLORY'`)).rejects.toThrow(/permission denied/);
      await expect(client.query('DELETE FROM audit_events')).rejects.toThrow(/permission denied/);
      await expect(client.query('ALTER TABLE audit_events DISABLE TRIGGER ALL')).rejects.toThrow(/must be owner/);
      await expect(client.query('TRUNCATE audit_events')).rejects.toThrow(/permission denied/);
    });
  });
});
