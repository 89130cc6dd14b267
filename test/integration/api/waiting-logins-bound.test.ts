import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeSlack, FakeSlackCall } from '../../../tools/sandbox/fake-slack.ts';
import { expectProblem, LatchOverHttp } from '../../helpers/latch-over-http.ts';

/**
 * A flood of `latch login` starts from many addresses, against a real `latch start` whose bound on
 * waiting logins is 3 (LATCH_MAX_WAITING_LOGINS) behind one trusted proxy, so each call names its
 * own address in X-Forwarded-For and the limit per address never applies: past the bound every
 * start is refused with a sentence for a person and Retry-After, nothing is written, and the
 * security team gets one warning, not one per refusal. A person answering a waiting login in Slack
 * frees a place. (Lapsing frees one too: the clock is moved in
 * test/integration/services/waiting-logins-bound.test.ts.)
 */

const ALICE = 'U0ALICE01';

const policyYaml = (hookUrl: string) => `
resources:
  - id: app-db
    name: App database
    provider: { type: webhook, settings: { url: '${hookUrl}', secretEnv: HOOK_SECRET } }
    roles: [read]
    maxDuration: 1h
    requesters: { users: [${ALICE}] }
    approvers: { users: [U0APPROVER1] }
    approvalChannel: C0APPROVALS
`;

let stack: LatchOverHttp;
let slack: FakeSlack;

beforeAll(async () => {
  stack = await LatchOverHttp.start({ name: 'login-bound', policy: ({ hookUrl }) => policyYaml(hookUrl), env: { LATCH_MAX_WAITING_LOGINS: '3', LATCH_TRUSTED_PROXY_HOPS: '1' } });
  ({ slack } = stack);
}, 120_000);

afterAll(async () => {
  await stack?.close();
});

/** `POST /logins` from a terminal at `address`, as the trusted proxy passes it on. */
const startFrom = (address: string) => stack.api('/logins', { method: 'POST', body: { client: `host-${address}` }, headers: { 'x-forwarded-for': address } });

const waitingAddresses = async () => (await stack.sql.query<{ client_address: string }>('SELECT client_address FROM cli_logins ORDER BY created_at')).rows.map((row) => row.client_address);
const startedEvents = async () => (await stack.sql.query<{ address: string }>("SELECT data->>'clientAddress' AS address FROM audit_events WHERE action = 'login.started' ORDER BY seq")).rows.map((row) => row.address);
const fullWarnings = () => stack.latch.logLines().filter((line) => line.level === 'warn' && typeof line.msg === 'string' && line.msg.startsWith('CLI login starts are refused'));

let responses = 0;

/** `/request-access <text>` typed by `user`: what Latch answered them. */
async function type(user: string, text: string): Promise<FakeSlackCall> {
  const id = `bound-${++responses}`;
  expect((await stack.sender.command(user, text, id)).status).toBe(200);
  return slack.waitForCall('response_url', (call) => call.args.id === id, 15_000);
}

describe('POST /logins past LATCH_MAX_WAITING_LOGINS', () => {
  it('refuses the fourth start from a fourth address, writes nothing for it, and warns once', async () => {
    const codes: string[] = [];
    for (const address of ['198.51.100.1', '198.51.100.2', '198.51.100.3']) {
      const started = await startFrom(address);
      expect(started.status).toBe(201);
      codes.push(((await started.json()) as { userCode: string }).userCode);
    }

    for (const address of ['198.51.100.4', '198.51.100.5', '198.51.100.6']) {
      const refused = await startFrom(address);
      const retryAfter = Number(refused.headers.get('retry-after'));
      const problem = await expectProblem(refused, 429, 'too_many_waiting_logins');
      expect(problem.detail).toBe('Too many logins are waiting to be confirmed; try again in a few minutes.');
      // Until the first waiting login lapses: at most the 10 minutes a login waits.
      expect(retryAfter).toBeGreaterThan(500);
      expect(retryAfter).toBeLessThanOrEqual(600);
    }

    expect(await waitingAddresses()).toEqual(['198.51.100.1', '198.51.100.2', '198.51.100.3']);
    expect(await startedEvents()).toEqual(['198.51.100.1', '198.51.100.2', '198.51.100.3']);
    // Three refusals, one warning: the first refusal's (the others fall in the same minute).
    await expect.poll(() => fullWarnings().length).toBe(1);
    expect(fullWarnings()[0]).toMatchObject({ waiting: 3, maxWaitingLogins: 3, refused: 1, lastIp: '198.51.100.4' });
    expect(fullWarnings()[0]?.msg).toContain('LATCH_MAX_WAITING_LOGINS');

    // A person who did not start it says so in Slack: that login waits no longer, and its place is free.
    const prompt = await type(ALICE, `login ${codes[0]}`);
    const value = /"value":"([0-9a-f-]{36}\|[A-Z]{4}-[A-Z]{4})"/.exec(JSON.stringify(prompt.args))![1]!;
    expect((await stack.sender.click(ALICE, 'latch_cli_login_refuse', value, 'C0GENERAL', 'latch_cli_login_actions', `bound-${++responses}`)).status).toBe(200);
    await expect.poll(async () => (await stack.sql.query('SELECT 1 FROM cli_logins WHERE refused_at IS NOT NULL')).rowCount).toBe(1);

    expect((await startFrom('198.51.100.7')).status).toBe(201);
    await expectProblem(await startFrom('198.51.100.8'), 429, 'too_many_waiting_logins');
    expect(await startedEvents()).toEqual(['198.51.100.1', '198.51.100.2', '198.51.100.3', '198.51.100.7']);
    expect(fullWarnings()).toHaveLength(1);
  });
});
