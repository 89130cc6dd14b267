import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { FakeSlack } from '../../../tools/sandbox/fake-slack.ts';
import { freePort } from '../../helpers/free-port.ts';
import { asOpenView, textInput } from '../../helpers/latch-harness.ts';
import { LatchProcess, runLatch, type LatchExit } from '../../helpers/latch-process.ts';
import { SlackSender } from '../../helpers/slack-sender.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/test-database.ts';
import { WebhookReceiver } from '../../helpers/webhook-receiver.ts';

/**
 * `latch request` and `latch release` as a pipeline runs them: child processes with LATCH_URL and
 * LATCH_TOKEN, against a real `latch start`, while an approver decides in (fake) Slack with signed
 * clicks. Each outcome is told by its exit code.
 */

const SIGNING_SECRET = 'request-cli-signing-secret-0123456789';
const BOT_TOKEN = 'xoxb-2222-3333-requestCliBotToken';
const HOOK_SECRET = 'request-cli-hook-secret-0123456789';
const APPROVER = 'U0APPROVER1';

const POLICY = (hookUrl: string) => `
limits:
  pendingPerPerson: 50
machines:
  - id: deploy-pipeline
    owner: { user: U0OWNER01 }
    authentication: token
    account: deploy_bot
resources:
  - id: prod-db
    name: Production database
    provider: { type: webhook, settings: { url: '${hookUrl}', secretEnv: HOOK_SECRET } }
    roles: [read]
    maxDuration: 4h
    requesters: { machines: [deploy-pipeline] }
    approvers: { users: [${APPROVER}] }
    approvalChannel: C0APPROVALS
  - id: billing-db
    name: Billing database
    provider: { type: webhook, settings: { url: '${hookUrl}', secretEnv: HOOK_SECRET } }
    roles: [read]
    maxDuration: 4h
    requesters: { users: [U0SOMEONE] }
    approvers: { users: [${APPROVER}] }
    approvalChannel: C0APPROVALS
`;

let slack: FakeSlack;
let receiver: WebhookReceiver;
let db: TestDatabase;
let latch: LatchProcess;
let sender: SlackSender;
/** What a pipeline step has: the address of Latch and its machine's token, nothing else of Latch's. */
let pipelineEnv: Record<string, string>;

beforeAll(async () => {
  [slack, receiver, db] = await Promise.all([FakeSlack.start({ botToken: BOT_TOKEN }), WebhookReceiver.start(HOOK_SECRET), createTestDatabase()]);
  const policyFile = join(mkdtempSync(join(tmpdir(), 'latch-request-cli-')), 'policy.yaml');
  writeFileSync(policyFile, POLICY(receiver.url));
  const env = {
    DATABASE_URL: db.url,
    REDIS_URL: inject('redisUrl'),
    SLACK_BOT_TOKEN: BOT_TOKEN,
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_API_URL: slack.apiUrl,
    LATCH_POLICY_FILE: policyFile,
    LATCH_QUEUE_PREFIX: `latch-request-cli-${process.pid}`,
    HOOK_SECRET,
    PORT: String(await freePort()),
    LOG_LEVEL: 'info',
  };
  const created = await runLatch(['token', 'create', 'deploy-pipeline', '--expires', '1h'], env);
  expect(created.code, created.stderr).toBe(0);
  latch = new LatchProcess(['start'], env);
  await latch.waitForLog((line) => typeof line.msg === 'string' && line.msg.startsWith('latch is listening'), 60_000);
  const baseUrl = `http://127.0.0.1:${env.PORT}`;
  pipelineEnv = { LATCH_URL: baseUrl, LATCH_TOKEN: created.stdout.trim() };
  sender = new SlackSender(`${baseUrl}/slack/events`, SIGNING_SECRET, (id) => slack.responseUrl(id));
}, 120_000);

afterAll(async () => {
  await latch?.kill();
  await Promise.all([slack?.close(), receiver?.close()]);
  await db?.drop();
});

/** `latch request prod-db read 15m --reason <reason> <options>` started as a pipeline step would. */
function request(reason: string, ...options: string[]): LatchProcess {
  return new LatchProcess(['request', 'prod-db', 'read', '15m', '--reason', reason, ...options], pipelineEnv);
}

/** The id of the request the approval card with `reason` is for, once it is posted. */
async function cardFor(reason: string): Promise<string> {
  const card = await slack.waitForCall('chat.postMessage', (call) => call.args.channel === 'C0APPROVALS' && JSON.stringify(call.args).includes(reason), 30_000);
  return /[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}/.exec(JSON.stringify(card.args))![0];
}

/** Waits until the step says it is waiting for the approvers, and checks it is still running. */
async function waitingStep(step: LatchProcess, id: string): Promise<void> {
  await expect.poll(() => step.stderr, { timeout: 30_000 }).toContain(`request ${id} is waiting for approval in Slack`);
  let exited: LatchExit | null = null;
  void step.exited.then((exit) => (exited = exit));
  await new Promise((resolve) => setTimeout(resolve, 500));
  expect(exited).toBeNull();
}

describe('latch request', { timeout: 90_000 }, () => {
  it('waits for an approval in Slack, exits 0 and prints shell-safe variables; latch release ends the access', async () => {
    const reason = "deploy 4f2a (it's urgent; $(touch /tmp/pwned))";
    const step = request(reason, '--wait', '--format', 'env');
    const id = await cardFor('deploy 4f2a');
    await waitingStep(step, id);
    expect((await sender.click(APPROVER, 'latch_approve', id)).status).toBe(200);
    const exit = await step.exited;
    expect(exit.code, exit.stderr).toBe(0);
    expect(exit.stdout).toContain(`LATCH_REQUEST_ID='${id}'\n`);
    expect(exit.stdout).toContain("LATCH_REQUEST_STATE='active'\n");
    expect(receiver.hasAccess('deploy_bot', 'read', 'prod-db')).toBe(true);
    // The output is what a shell can source as it is.
    const sourced = execFileSync('bash', ['-c', 'eval "$OUTPUT"; printf "%s|%s|%s" "$LATCH_REQUEST_ID" "$LATCH_ACCOUNT" "$LATCH_EXPIRES_AT"'], { env: { PATH: process.env.PATH, OUTPUT: exit.stdout }, encoding: 'utf8' });
    expect(sourced).toMatch(new RegExp(`^${id}\\|deploy_bot\\|\\d{4}-\\d\\d-\\d\\dT`));
    // Nothing of the token reaches the output.
    expect(exit.stdout + exit.stderr).not.toContain(pipelineEnv.LATCH_TOKEN!.slice(39));

    const released = await runLatch(['release', id, '--format', 'json'], pipelineEnv);
    expect(released.code, released.stderr).toBe(0);
    expect(JSON.parse(released.stdout)).toMatchObject({ id });
    await expect.poll(() => receiver.hasAccess('deploy_bot', 'read', 'prod-db'), { timeout: 30_000 }).toBe(false);
    // Released once, there is nothing more to release: refused, with the API's words.
    const again = await runLatch(['release', id], pipelineEnv);
    expect(again.code).toBe(5);
    expect(again.stderr).toMatch(/^latch: .+/);
  });

  it('exits 2 when an approver denies, printing the request as JSON and the reason on stderr', async () => {
    const step = request('deploy to be denied', '--wait', '--format', 'json');
    const id = await cardFor('deploy to be denied');
    await waitingStep(step, id);
    expect((await sender.click(APPROVER, 'latch_deny', id)).status).toBe(200);
    const modal = await slack.waitForCall('views.open', (call) => JSON.stringify(call.args.view).includes(id));
    expect((await sender.submit(APPROVER, asOpenView(modal.args.view as Record<string, unknown>, { latch_deny_reason: { latch_deny_reason_input: textInput('use the replica') } }))).status).toBe(200);
    const exit = await step.exited;
    expect(exit.code, exit.stderr).toBe(2);
    expect(JSON.parse(exit.stdout)).toMatchObject({ id, state: 'denied' });
    expect(exit.stderr).toContain(`request ${id} was denied`);
    expect(exit.stderr).toContain('use the replica');
  });

  it('exits 4 when --timeout passes with nobody deciding, leaving the request pending', async () => {
    const exit = await request('deploy nobody decides', '--wait', '--timeout', '2s').exited;
    expect(exit.code, exit.stderr).toBe(4);
    expect(exit.stderr).toMatch(/timed out after 2s waiting for request [0-9a-f-]{36}; it is still pending approval in Slack/);
    expect(exit.stdout).toMatch(/waiting for approval in Slack \(read on prod-db for deploy_bot, 15m\)/);
  });

  it('exits 0 at once without --wait, and finds the same request again under the same --idempotency-key', async () => {
    const first = await request('deploy asked once', '--idempotency-key', 'run-77-deploy', '--format', 'json').exited;
    expect(first.code, first.stderr).toBe(0);
    const made = JSON.parse(first.stdout) as { id: string; state: string };
    expect(made.state).toBe('pending_approval');
    const rerun = await request('deploy asked once', '--idempotency-key', 'run-77-deploy', '--format', 'json').exited;
    expect(rerun.code, rerun.stderr).toBe(0);
    expect((JSON.parse(rerun.stdout) as { id: string }).id).toBe(made.id);
    expect(rerun.stderr).toContain('made by an earlier run with this idempotency key');
  });

  it('exits 5 with the refusal a person would get when the policy does not allow it', async () => {
    const exit = await runLatch(['request', 'billing-db', 'read', '15m', '--reason', 'not mine to ask', '--wait'], pipelineEnv);
    expect(exit.code).toBe(5);
    expect(exit.stderr).toMatch(/^latch: .*(not|only)/);
    expect(exit.stdout).toBe('');
  });

  it('exits 78 when the token is missing or refused, and 64 on a usage mistake', async () => {
    const missing = await runLatch(['request', 'prod-db', 'read', '15m', '--reason', 'x'], { LATCH_URL: pipelineEnv.LATCH_URL });
    expect(missing.code).toBe(78);
    expect(missing.stderr).toContain('LATCH_TOKEN is missing');
    const revoked = await runLatch(['request', 'prod-db', 'read', '15m', '--reason', 'x'], { ...pipelineEnv, LATCH_TOKEN: `${pipelineEnv.LATCH_TOKEN!.slice(0, 39)}${'A'.repeat(43)}` });
    expect(revoked.code).toBe(78);
    expect(revoked.stderr).toMatch(/^latch: .+/);
    const usage = await runLatch(['request', 'prod-db', 'read', '--reason', 'x'], pipelineEnv);
    expect(usage.code).toBe(64);
  });
});
