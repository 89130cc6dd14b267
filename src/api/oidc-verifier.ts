import { createRemoteJWKSet, decodeJwt, errors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { z } from 'zod';
import { issuerUrlProblem } from '../domain/oidc-claims.ts';
import type { OidcRejection, OidcVerification, OidcVerifier } from '../services/exchange-oidc-token.ts';

/**
 * Checks a workload's OIDC token (a JWT) with `jose`: its issuer must be one the policy trusts,
 * found before anything is fetched, so a token can never make Latch call an address of its
 * choosing; the signature is checked against the issuer's keys (JWKS), found through its
 * discovery document; then audience, expiry, not-before and issued-at, with a small tolerance for
 * clocks that differ. Only RS256 and ES256 are accepted (GitHub signs with RS256): never `none`,
 * never an HMAC, whose "key" would be public.
 */

export const ALLOWED_ALGORITHMS = ['RS256', 'ES256'];
/** How far the issuer's clock and ours may differ. */
const CLOCK_TOLERANCE_SECONDS = 30;
const DISCOVERY_TIMEOUT_MS = 5_000;
/** A discovery document is a page of JSON; more is not one. */
const MAX_DISCOVERY_BYTES = 64 * 1024;
/** Issuers rotate keys: the discovery document is read again after this long. */
const DISCOVERY_MAX_AGE_MS = 60 * 60 * 1000;

const discoveryDocument = z.looseObject({ issuer: z.string(), jwks_uri: z.string() });

/** The issuers' keys, found through their discovery documents and kept (jose refreshes a key set itself when it meets an unknown key id). */
export class OidcIssuers implements OidcVerifier {
  private readonly keySets = new Map<string, { keys: Promise<JWTVerifyGetKey>; fetchedAt: number }>();

  constructor(private readonly fetchImpl: typeof fetch = fetch) {}

  async verify(jwt: string, trusted: ReadonlyMap<string, readonly string[]>, now: Date): Promise<OidcVerification> {
    let issuer: unknown;
    try {
      issuer = decodeJwt(jwt).iss;
    } catch {
      return { ok: false, rejection: 'malformed' };
    }
    const audiences = typeof issuer === 'string' ? trusted.get(issuer) : undefined;
    if (typeof issuer !== 'string' || !audiences) return { ok: false, rejection: 'issuer_untrusted', ...(typeof issuer === 'string' ? { issuer: issuer.slice(0, 200) } : {}) };
    let keys: JWTVerifyGetKey;
    try {
      keys = await this.keysOf(issuer, now);
    } catch (error) {
      return { ok: false, rejection: 'issuer_unavailable', issuer, detail: (error as Error).message };
    }
    try {
      const { payload } = await jwtVerify(jwt, keys, {
        issuer,
        audience: [...audiences],
        algorithms: ALLOWED_ALGORITHMS,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        currentDate: now,
        requiredClaims: ['iss', 'aud', 'exp', 'iat', 'sub', 'jti'],
      });
      const expiresAt = new Date(payload.exp! * 1000);
      // The tolerance is for clocks that differ on when a token starts; one past its expiry is not renewed by it.
      if (expiresAt.getTime() <= now.getTime()) return { ok: false, rejection: 'expired', issuer };
      const audiencesOfToken = typeof payload.aud === 'string' ? [payload.aud] : (payload.aud ?? []);
      return {
        ok: true,
        token: { workload: { issuer, audiences: audiencesOfToken, claims: payload }, subject: String(payload.sub), jti: String(payload.jti), expiresAt },
      };
    } catch (error) {
      return { ok: false, rejection: rejectionOf(error), issuer, detail: (error as Error).message };
    }
  }

  /** The issuer's key set, read through its discovery document once an hour; a failed read is tried again on the next token. */
  private keysOf(issuer: string, now: Date): Promise<JWTVerifyGetKey> {
    const kept = this.keySets.get(issuer);
    if (kept && now.getTime() - kept.fetchedAt < DISCOVERY_MAX_AGE_MS) return kept.keys;
    const keys = this.discover(issuer);
    this.keySets.set(issuer, { keys, fetchedAt: now.getTime() });
    keys.catch(() => {
      if (this.keySets.get(issuer)?.keys === keys) this.keySets.delete(issuer);
    });
    return keys;
  }

  private async discover(issuer: string): Promise<JWTVerifyGetKey> {
    const url = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
    const response = await this.fetchImpl(url, { redirect: 'error', signal: AbortSignal.timeout(DISCOVERY_TIMEOUT_MS), headers: { accept: 'application/json' } });
    if (!response.ok) throw new Error(`${url} answered HTTP ${response.status}`);
    const body = await response.arrayBuffer();
    if (body.byteLength > MAX_DISCOVERY_BYTES) throw new Error(`${url} is over ${MAX_DISCOVERY_BYTES} bytes`);
    const parsed = discoveryDocument.safeParse(JSON.parse(Buffer.from(body).toString('utf8')));
    if (!parsed.success) throw new Error(`${url} is not a discovery document: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`);
    // OpenID Connect Discovery 1.0, 4.3: the document must name the issuer it was fetched for.
    if (parsed.data.issuer !== issuer) throw new Error(`${url} names the issuer ${parsed.data.issuer.slice(0, 200)}, not ${issuer}`);
    const problem = issuerUrlProblem(parsed.data.jwks_uri);
    if (problem) throw new Error(`the jwks_uri of ${url} ${problem}`);
    return createRemoteJWKSet(new URL(parsed.data.jwks_uri), { timeoutDuration: DISCOVERY_TIMEOUT_MS });
  }
}

function rejectionOf(error: unknown): OidcRejection {
  if (error instanceof errors.JWTExpired) return 'expired';
  if (error instanceof errors.JOSEAlgNotAllowed) return 'algorithm_refused';
  if (error instanceof errors.JWKSNoMatchingKey) return 'key_unknown';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'signature_invalid';
  if (error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid) return 'issuer_unavailable';
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'aud') return 'audience_wrong';
    if (error.reason === 'missing') return 'claims_missing';
    if (error.claim === 'nbf' || error.claim === 'iat') return 'not_yet_valid';
    return 'claims_missing';
  }
  if (error instanceof errors.JOSENotSupported) return 'algorithm_refused';
  if (error instanceof TypeError) return 'issuer_unavailable';
  return 'malformed';
}
