import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectProblem, LatchOverHttp } from '../../helpers/latch-over-http.ts';

/**
 * The limits kept per client address (the OIDC exchange, `latch login` starts and polls) against
 * a caller on IPv6, behind one trusted proxy that passes each caller's address on: a host on IPv6
 * is given a whole /64 network (2^64 addresses), so a limit per address it could escape by taking
 * the next address for every call. The limits count a /64 as one address; another /64, and IPv4
 * callers, keep limits of their own.
 */

const policyYaml = (hookUrl: string) => `
resources:
  - id: app-db
    name: App database
    provider: { type: webhook, settings: { url: '${hookUrl}', secretEnv: HOOK_SECRET } }
    roles: [read]
    maxDuration: 1h
    requesters: { users: [U0ALICE01] }
    approvers: { users: [U0APPROVER1] }
    approvalChannel: C0APPROVALS
`;

let stack: LatchOverHttp;

beforeAll(async () => {
  stack = await LatchOverHttp.start({ name: 'ipv6-limits', policy: ({ hookUrl }) => policyYaml(hookUrl), env: { LATCH_TRUSTED_PROXY_HOPS: '1' } });
}, 120_000);

afterAll(async () => {
  await stack?.close();
});

/** `POST <path>` from `address`, as the trusted proxy passes it on. */
const from = (address: string, path: string, body: unknown) => stack.api(path, { method: 'POST', body, headers: { 'x-forwarded-for': address } });

/** The n-th address of one /64: what a host given that network can send from. */
const inNetwork = (network: string, n: number) => `${network}:${(n >> 16).toString(16)}:${(n & 0xffff).toString(16)}:${n.toString(16)}:1`;

const refusedExchanges = async () => Number((await stack.sql.query<{ n: string }>("SELECT count(*) AS n FROM audit_events WHERE action = 'api.refused'")).rows[0]!.n);

describe('limits per address, for callers on IPv6', () => {
  it('count every address of a /64 as one for the OIDC exchange, so hammering it writes no more refusals than one address may', async () => {
    const statuses: number[] = [];
    for (let n = 1; n <= 40; n++) statuses.push((await from(inNetwork('2001:db8:aa:1', n), '/oidc/token', { token: 'junk' })).status);
    // A burst of 30 (OIDC_EXCHANGE_BURST), then refused before the token is looked at.
    expect(statuses.filter((status) => status === 401).length).toBeLessThanOrEqual(31);
    expect(statuses.slice(-5)).toEqual([429, 429, 429, 429, 429]);
    expect(await refusedExchanges()).toBeLessThanOrEqual(31);
    // The same address written another way is the same caller.
    await expectProblem(await from('2001:0db8:00aa:0001:0000:0000:0000:0009', '/oidc/token', { token: 'junk' }), 429, 'rate_limited');
    // Another /64 is another caller.
    expect((await from('2001:db8:aa:2::1', '/oidc/token', { token: 'junk' })).status).toBe(401);
  });

  it('count every address of a /64 as one for `latch login` starts and polls', async () => {
    const starts: number[] = [];
    for (let n = 1; n <= 15; n++) starts.push((await from(inNetwork('2001:db8:bb:1', n), '/logins', { client: `host-${n}` })).status);
    expect(starts.slice(0, 10)).toEqual(Array(10).fill(201));
    expect(starts.slice(10)).toEqual([429, 429, 429, 429, 429]);

    const polls: number[] = [];
    for (let n = 1; n <= 60; n++) polls.push((await from(inNetwork('2001:db8:cc:1', n), '/logins/token', { deviceCode: 'latchdevice_guess' })).status);
    // A burst of 40 (LOGIN_POLL_BURST), then slowed down.
    expect(polls.filter((status) => status === 400).length).toBeLessThanOrEqual(41);
    expect(polls.slice(-5)).toEqual([429, 429, 429, 429, 429]);
  });

  it('keep IPv4 callers, and IPv4 callers written as IPv6 (::ffff:a.b.c.d), apart from each other', async () => {
    expect((await from('198.51.100.1', '/logins', { client: 'ipv4-one' })).status).toBe(201);
    expect((await from('::ffff:198.51.100.2', '/logins', { client: 'ipv4-two' })).status).toBe(201);
    expect((await from('::ffff:198.51.100.3', '/logins', { client: 'ipv4-three' })).status).toBe(201);
  });
});
