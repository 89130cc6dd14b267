import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeSlack } from '../../../tools/sandbox/fake-slack.ts';
import { asOpenView, textInput } from '../../helpers/latch-harness.ts';
import { LatchOverHttp } from '../../helpers/latch-over-http.ts';
import { LatchProcess, runLatch, type LatchExit } from '../../helpers/latch-process.ts';
import type { SlackSender } from '../../helpers/slack-sender.ts';
import type { WebhookReceiver } from '../../helpers/webhook-receiver.ts';

/**
 * `latch request` and `latch release` as a pipeline runs them: child processes with LATCH_URL and
 * LATCH_TOKEN, against a real `latch start`, while an approver decides in (fake) Slack with signed
 * clicks. Each outcome is told by its exit code.
 */

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

let stack: LatchOverHttp;
let slack: FakeSlack;
let receiver: WebhookReceiver;
let latch: LatchProcess;
let sender: SlackSender;
/** What a pipeline step has: the address of Latch and its machine's token, nothing else of Latch's. */
let pipelineEnv: Record<string, string>;

beforeAll(async () => {
  stack = await LatchOverHttp.start({ name: 'request-cli', policy: ({ hookUrl }) => POLICY(hookUrl), machines: ['deploy-pipeline'] });
  ({ slack, receiver, latch, sender } = stack);
  pipelineEnv = { LATCH_URL: stack.baseUrl, LATCH_TOKEN: stack.tokens['deploy-pipeline']! };
}, 120_000);

afterAll(() => stack?.close());

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

  it('sends --scope with the request: a role without scopes refuses it with the words a person gets', async () => {
    const exit = await runLatch(['request', 'prod-db', 'read', '15m', '--reason', 'one customer', '--scope', 'customer=4711'], pipelineEnv);
    expect(exit.code).toBe(5);
    expect(exit.stderr).toContain('The role read takes no scope (customer)');
    const usage = await runLatch(['request', 'prod-db', 'read', '15m', '--reason', 'x', '--scope', 'customer'], pipelineEnv);
    expect(usage.code).toBe(64);
    expect(usage.stderr).toContain('--scope takes name=value[,value], such as customer=4711, not "customer"');
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
