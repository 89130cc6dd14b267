import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose';

/**
 * An OIDC issuer on loopback, as GitHub Actions' is on the Internet: a discovery document at
 * /.well-known/openid-configuration naming its JWKS, and the JWKS with its public keys (an RS256
 * and an ES256 one). It signs tokens the way a platform signs a job's, and keeps one key it never
 * publishes, for tokens Latch must refuse. It records the paths it was asked for.
 */
export class LoopbackOidcIssuer {
  private constructor(
    /** The paths asked for, in order. */
    readonly requests: readonly string[],
    private readonly server: Server,
    readonly url: string,
    private readonly keys: Record<'RS256' | 'ES256' | 'unpublished', { privateKey: CryptoKey; kid: string }>,
  ) {}

  static async start(): Promise<LoopbackOidcIssuer> {
    const [rs, es, unpublished] = await Promise.all([generateKeyPair('RS256'), generateKeyPair('ES256'), generateKeyPair('RS256')]);
    const jwks = { keys: [{ ...(await exportJWK(rs.publicKey)), kid: 'rs-1', alg: 'RS256', use: 'sig' }, { ...(await exportJWK(es.publicKey)), kid: 'es-1', alg: 'ES256', use: 'sig' }] };
    let url = '';
    const requests: string[] = [];
    const server = createServer((req, res) => {
      requests.push(req.url ?? '');
      if (req.url === '/.well-known/openid-configuration') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer: url, jwks_uri: `${url}/.well-known/jwks`, id_token_signing_alg_values_supported: ['RS256', 'ES256'] }));
      } else if (req.url === '/.well-known/jwks') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks));
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return new LoopbackOidcIssuer(requests, server, url, {
      RS256: { privateKey: rs.privateKey, kid: 'rs-1' },
      ES256: { privateKey: es.privateKey, kid: 'es-1' },
      unpublished: { privateKey: unpublished.privateKey, kid: 'rs-unpublished' },
    });
  }

  /**
   * A token like a job's: this issuer, a fresh jti, issued now, valid 5 minutes, unless `claims`
   * says otherwise (`undefined` removes a claim). `key` picks the signing key; `kid` overrides the
   * header's key id (an unpublished key under a published kid makes a bad signature).
   */
  sign(claims: Record<string, unknown>, { key = 'RS256', kid }: { key?: 'RS256' | 'ES256' | 'unpublished'; kid?: string } = {}): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const payload = withoutUndefined({ iss: this.url, sub: 'repo:octo-org/deploy:ref:refs/heads/main', jti: randomUUID(), iat: now, nbf: now - 5, exp: now + 300, ...claims });
    const signing = this.keys[key];
    const alg = key === 'ES256' ? 'ES256' : 'RS256';
    return new SignJWT(payload as JWTPayload).setProtectedHeader({ alg, kid: kid ?? signing.kid, typ: 'JWT' }).sign(signing.privateKey);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

function withoutUndefined(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined));
}

/** An unsigned token (`alg: none`) carrying `payload`: what an attacker sends hoping it is not checked. */
export function unsignedToken(payload: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(payload)}.`;
}

/** An HS256 token, its "key" being text anyone can read (a public key's, say). */
export function hmacToken(payload: Record<string, unknown>, secret: string): Promise<string> {
  return new SignJWT(payload as JWTPayload).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(new TextEncoder().encode(secret));
}
