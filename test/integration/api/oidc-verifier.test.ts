import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OidcIssuers } from '../../../src/api/oidc-verifier.ts';
import { LoopbackOidcIssuer } from '../../helpers/oidc-issuer.ts';

/**
 * How Latch finds an issuer's keys, against an issuer on loopback: a discovery document that names
 * another issuer (a mix-up) or points at keys over plain HTTP elsewhere is not trusted, and an
 * issuer that cannot be reached is tried again on the next token rather than remembered as down.
 */

const AUDIENCE = 'https://latch.test';
let issuer: LoopbackOidcIssuer;

beforeAll(async () => {
  issuer = await LoopbackOidcIssuer.start();
});
afterAll(() => issuer?.close());

const trusted = () => new Map([[issuer.url, [AUDIENCE]]]);
const discoveryAnswering = (document: Record<string, unknown>): typeof fetch =>
  (async () => new Response(JSON.stringify(document), { status: 200, headers: { 'content-type': 'application/json' } })) as typeof fetch;

describe("finding an issuer's keys", () => {
  it('verifies a token with the keys its discovery document names, and reads its claims', async () => {
    const verified = await new OidcIssuers().verify(await issuer.sign({ aud: [AUDIENCE, 'other'], repository: 'octo-org/deploy' }, { key: 'ES256' }), trusted(), new Date());
    expect(verified).toMatchObject({ ok: true, token: { subject: 'repo:octo-org/deploy:ref:refs/heads/main', workload: { issuer: issuer.url, audiences: [AUDIENCE, 'other'], claims: { repository: 'octo-org/deploy' } } } });
  });

  it('refuses keys from a discovery document that names another issuer', async () => {
    const verifier = new OidcIssuers(discoveryAnswering({ issuer: 'https://evil.example.com', jwks_uri: `${issuer.url}/.well-known/jwks` }));
    const verified = await verifier.verify(await issuer.sign({ aud: AUDIENCE }), trusted(), new Date());
    expect(verified).toMatchObject({ ok: false, rejection: 'issuer_unavailable', detail: expect.stringContaining('names the issuer https://evil.example.com') });
  });

  it('refuses keys served over plain HTTP off loopback', async () => {
    const verifier = new OidcIssuers(discoveryAnswering({ issuer: issuer.url, jwks_uri: 'http://keys.example.com/jwks' }));
    const verified = await verifier.verify(await issuer.sign({ aud: AUDIENCE }), trusted(), new Date());
    expect(verified).toMatchObject({ ok: false, rejection: 'issuer_unavailable', detail: expect.stringContaining('jwks_uri') });
  });

  it('tries an issuer again on the next token after it could not be reached', async () => {
    let down = true;
    const flaky: typeof fetch = async (input, init) => {
      if (down) throw new TypeError('fetch failed');
      return fetch(input, init);
    };
    const verifier = new OidcIssuers(flaky);
    expect(await verifier.verify(await issuer.sign({ aud: AUDIENCE }), trusted(), new Date())).toMatchObject({ ok: false, rejection: 'issuer_unavailable' });
    down = false;
    expect(await verifier.verify(await issuer.sign({ aud: AUDIENCE }), trusted(), new Date())).toMatchObject({ ok: true });
  });
});
