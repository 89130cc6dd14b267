import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SLACK_EVENTS_PATH } from '../../src/slack/app.ts';
import { createDatabase, type Database } from '../../src/store/database.ts';
import { FakeSlack } from '../../tools/sandbox/fake-slack.ts';
import { freePort } from './free-port.ts';
import { LatchProcess } from './latch-process.ts';
import { PrivateRedis } from './private-redis.ts';
import { SlackSender } from './slack-sender.ts';
import { createTestDatabase, type TestDatabase } from './test-database.ts';

export const E2E_SIGNING_SECRET = 'e2e-signing-secret-0123456789abcdef';
export const E2E_BOT_TOKEN = 'xoxb-2222-3333-e2eBotToken';

/** One `latch start` as an operator runs it, and everything it stands on, for an end-to-end test. */
export interface E2eLatch {
  slack: FakeSlack;
  database: TestDatabase;
  /** Latch's own database, for the test to read what Latch stored. */
  db: Database;
  redis: PrivateRedis;
  latch: LatchProcess;
  port: number;
  /** Signs requests as Slack signs them and sends them to this Latch. */
  sender: SlackSender;
  /** Kills Latch (SIGKILL: nothing a test checks may depend on a clean stop) and drops the rest. */
  close(): Promise<void>;
}

/**
 * Starts the fake Slack, a test database, a private Redis and `latch start` (through the test
 * entry, so access lasts seconds) with `policyYaml` as its policy file and `env` added to what
 * every such test sets; resolves once Latch listens. What a test starts itself (the target the
 * provider grants on) it stops itself.
 */
export async function startE2eLatch(options: { name: string; policyYaml: string; env?: Record<string, string> }): Promise<E2eLatch> {
  const slack = await FakeSlack.start({ botToken: E2E_BOT_TOKEN });
  const database = await createTestDatabase();
  const db = createDatabase({ databaseUrl: database.url, poolSize: 2 });
  const redis = await PrivateRedis.start();
  const policyFile = join(mkdtempSync(join(tmpdir(), `latch-e2e-${options.name}-`)), 'policy.yaml');
  writeFileSync(policyFile, options.policyYaml);
  const port = await freePort();
  const latch = new LatchProcess(
    ['start'],
    {
      DATABASE_URL: database.url,
      REDIS_URL: redis.url,
      SLACK_BOT_TOKEN: E2E_BOT_TOKEN,
      SLACK_SIGNING_SECRET: E2E_SIGNING_SECRET,
      SLACK_API_URL: slack.apiUrl,
      LATCH_POLICY_FILE: policyFile,
      LOG_LEVEL: 'info',
      PORT: String(port),
      ...options.env,
    },
    { shortGrants: true },
  );
  const close = async () => {
    await latch.kill('SIGKILL');
    await db.$disconnect();
    await redis.stop();
    await database.drop();
    await slack.close();
  };
  try {
    await latch.waitForLog((line) => typeof line.msg === 'string' && line.msg.startsWith('latch is listening'), 60_000);
  } catch (error) {
    await close();
    throw error;
  }
  const sender = new SlackSender(`http://127.0.0.1:${port}${SLACK_EVENTS_PATH}`, E2E_SIGNING_SECRET, (id) => slack.responseUrl(id));
  return { slack, database, db, redis, latch, port, sender, close };
}
