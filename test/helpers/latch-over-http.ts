import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { expect, inject } from 'vitest';
import { FakeSlack } from '../../tools/sandbox/fake-slack.ts';
import { freePort } from './free-port.ts';
import { LatchProcess, runLatch, type LatchProcessOptions } from './latch-process.ts';
import { SlackSender } from './slack-sender.ts';
import { createTestDatabase, type TestDatabase } from './test-database.ts';
import { WebhookReceiver } from './webhook-receiver.ts';

/**
 * A real `latch start` as machines meet it over HTTP: its own migrated database, the fake Slack,
 * a webhook target, API tokens made by `latch token create` for the machines named, and a signed
 * Slack sender for the people who decide. The tests of /api/v1, /mcp and `latch request` each
 * stand one up; what differs between them is the policy, the machines and a few variables.
 */

export interface LatchOverHttpOptions {
  /** Names the policy's folder, the queue prefix and the secrets, so two files never share them. */
  name: string;
  /** The policy file's text; the webhook target's URL is there for resources that grant through it. */
  policy: (urls: { hookUrl: string }) => string;
  /** The machines to make a one-hour API token for, in this order (their `token.created` events come in it). */
  machines?: readonly string[];
  /** More variables, or ones to change (`LOG_LEVEL`, a provider's connection string). */
  env?: Record<string, string>;
  process?: LatchProcessOptions;
}

export interface ApiCall {
  /** A machine's API token; `null` sends no Authorization header. */
  token?: string | null | undefined;
  method?: string;
  /** Sent as JSON (a string is sent as it is, for bodies that are not JSON). */
  body?: unknown;
  contentType?: string;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export class LatchOverHttp {
  private constructor(
    readonly slack: FakeSlack,
    readonly receiver: WebhookReceiver,
    readonly db: TestDatabase,
    /** A plain connection to Latch's own database, for what a test checks in the tables. */
    readonly sql: pg.Client,
    readonly latch: LatchProcess,
    /** The variables `latch start` runs with: the same ones run `latch token …` and the CLI under test. */
    readonly env: Record<string, string>,
    readonly baseUrl: string,
    readonly tokens: Record<string, string>,
    /** Sends what Slack sends, signed with the app's signing secret: the people who decide. */
    readonly sender: SlackSender,
    readonly secrets: { signing: string; bot: string; hook: string },
  ) {}

  static async start(options: LatchOverHttpOptions): Promise<LatchOverHttp> {
    const secrets = { signing: `${options.name}-signing-secret-0123456789`, bot: `xoxb-2222-3333-${options.name}`, hook: `${options.name}-hook-secret-0123456789` };
    const [slack, receiver, db] = await Promise.all([FakeSlack.start({ botToken: secrets.bot }), WebhookReceiver.start(secrets.hook), createTestDatabase()]);
    const policyFile = join(mkdtempSync(join(tmpdir(), `latch-${options.name}-`)), 'policy.yaml');
    writeFileSync(policyFile, options.policy({ hookUrl: receiver.url }));
    const env: Record<string, string> = {
      DATABASE_URL: db.url,
      REDIS_URL: inject('redisUrl'),
      SLACK_BOT_TOKEN: secrets.bot,
      SLACK_SIGNING_SECRET: secrets.signing,
      SLACK_API_URL: slack.apiUrl,
      LATCH_POLICY_FILE: policyFile,
      LATCH_QUEUE_PREFIX: `latch-${options.name}-${process.pid}`,
      HOOK_SECRET: secrets.hook,
      PORT: String(await freePort()),
      LOG_LEVEL: 'info',
      ...options.env,
    };
    const baseUrl = `http://127.0.0.1:${env.PORT}`;
    const tokens: Record<string, string> = {};
    for (const machine of options.machines ?? []) {
      const created = await runLatch(['token', 'create', machine, '--expires', '1h'], env);
      expect(created.code, created.stderr).toBe(0);
      tokens[machine] = created.stdout.trim();
    }
    const latch = new LatchProcess(['start'], env, options.process);
    await latch.waitForLog((line) => typeof line.msg === 'string' && line.msg.startsWith('latch is listening'), 60_000);
    const sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    const sender = new SlackSender(`${baseUrl}/slack/events`, secrets.signing, (id) => slack.responseUrl(id));
    return new LatchOverHttp(slack, receiver, db, sql, latch, env, baseUrl, tokens, sender, secrets);
  }

  /** A call to `/api/v1<path>`. */
  api(path: string, { token = null, method = 'GET', body, contentType = 'application/json', headers = {}, signal }: ApiCall = {}): Promise<Response> {
    return fetch(`${this.baseUrl}/api/v1${path}`, {
      method,
      ...(signal ? { signal } : {}),
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': contentType } : {}), ...headers },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
  }

  async close(): Promise<void> {
    await this.latch.kill();
    await this.sql.end();
    await Promise.all([this.slack.close(), this.receiver.close()]);
    await this.db.drop();
  }
}

/** A refusal as the API answers it: problem+json with a code, a title and a detail, never a stack trace. */
export async function expectProblem(response: Response, status: number, code: string): Promise<{ detail: string; errors?: Record<string, string> }> {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toBe('application/problem+json');
  const body = (await response.json()) as { status: number; code: string; detail: string; title: string; errors?: Record<string, string> };
  expect(body).toMatchObject({ status, code, title: expect.any(String), detail: expect.any(String) });
  expect(JSON.stringify(body)).not.toMatch(/at .+\.(ts|js):\d+/);
  return body;
}
