import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, type Database } from '../../../src/store/database.ts';
import { FakeSlack } from '../../../tools/sandbox/fake-slack.ts';
import { runLatch } from '../../helpers/latch-process.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/test-database.ts';

const EXAMPLE_POLICY = fileURLToPath(new URL('../../../policy.example.yaml', import.meta.url));
const BOT_TOKEN = 'xoxb-2222-3333-digestBotToken';

let testDb: TestDatabase;
let db: Database;
let slack: FakeSlack;

beforeAll(async () => {
  testDb = await createTestDatabase();
  db = createDatabase({ databaseUrl: testDb.url, poolSize: 2 });
  slack = await FakeSlack.start({ botToken: BOT_TOKEN });
});
afterAll(async () => {
  await db.$disconnect();
  await testDb.drop();
  await slack.close();
});

const env = (extra: Record<string, string> = {}) => ({ DATABASE_URL: testDb.url, LATCH_POLICY_FILE: EXAMPLE_POLICY, ...extra });

describe('latch digest send', () => {
  it('says in one line that there is nothing to report, with --dry-run and without a Slack token', async () => {
    const result = await runLatch(['digest', 'send', 'daily', '--dry-run'], env());
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^🗒️ Access digest \*daily\*, .* UTC – .* UTC: nothing to report; the audit chain is empty\.\n$/);
  });

  it('names the digests the policy has when asked for another', async () => {
    const result = await runLatch(['digest', 'send', 'hourly', '--dry-run'], env());
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('latch: the policy has no digest "hourly"; it has daily, weekly\n');
  });

  it('posts the digest to its channel, reporting the access held now', async () => {
    const request = await db.accessRequest.create({
      data: { requesterSlackId: 'U0ALICE', resourceId: 'prod-db', role: 'read', principal: 'alice', durationSeconds: 3600, reason: 'digest', state: 'active' },
    });
    const now = Date.now();
    await db.grant.create({ data: { requestId: request.id, provider: 'postgres', principal: 'alice', resourceId: 'prod-db', role: 'read', grantedAt: new Date(now), expiresAt: new Date(now + 3600_000) } });

    const dry = await runLatch(['digest', 'send', 'weekly', '--dry-run'], env());
    expect(dry.stdout).toContain('*Active grants now*: 1; the longest:\n• @U0ALICE as `alice`: `read` on `prod-db` for 1h');

    const sent = await runLatch(['digest', 'send', 'weekly'], env({ SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_API_URL: slack.apiUrl }));
    expect(sent.code).toBe(0);
    expect(sent.stdout).toMatch(/^digest weekly \(.* to .*\) posted to C0SECLEADS\n$/);
    const posted = slack.callsTo('chat.postMessage').at(-1)!;
    expect(posted.args.channel).toBe('C0SECLEADS');
    expect(JSON.stringify(posted.args.blocks)).toContain('Access digest — weekly');
  });

  it('with --so-far covers the period running now, so a request just made is in it; without, the last complete day is', async () => {
    await db.accessRequest.create({
      data: { requesterSlackId: 'U0BOB', resourceId: 'prod-db', role: 'read', principal: 'bob', durationSeconds: 3600, reason: 'just now', state: 'denied' },
    });
    const last = await runLatch(['digest', 'send', 'daily', '--dry-run'], env());
    expect(last.code).toBe(0);
    expect(last.stdout).not.toContain('1 denied');
    const soFar = await runLatch(['digest', 'send', 'daily', '--so-far', '--dry-run'], env());
    expect(soFar.code).toBe(0);
    expect(soFar.stdout).toMatch(/\*Requests\*: [1-9]\d* \(.*1 denied/);

    const sent = await runLatch(['digest', 'send', 'daily', '--so-far'], env({ SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_API_URL: slack.apiUrl }));
    expect(sent.code).toBe(0);
    expect(JSON.stringify(slack.callsTo('chat.postMessage').at(-1)!.args.blocks)).toContain('1 denied');
  });

  it('refuses --so-far on another command', async () => {
    const result = await runLatch(['migrate', '--so-far'], env());
    expect(result.code).toBe(64);
    expect(result.stderr).toContain('--so-far only applies to `latch digest send`');
  });

  it('needs the bot token to post, and says so', async () => {
    const result = await runLatch(['digest', 'send', 'daily'], env());
    expect(result.code).toBe(78);
    expect(result.stderr).toContain('SLACK_BOT_TOKEN');
  });
});
