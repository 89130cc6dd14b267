import { formatToken, newTokenSecret } from '../domain/api-token.ts';
import { machineRequesterId } from '../domain/machine.ts';
import { machinesForWorkload, type VerifiedWorkload } from '../domain/oidc-claims.ts';
import { appendAuditEvent } from '../store/audit-log.ts';
import { insertMachineToken } from '../store/machine-tokens.ts';
import { inTransaction } from '../store/transaction.ts';
import { uuidV7 } from '../store/uuid-v7.ts';
import type { ServiceContext } from './service-context.ts';

/**
 * A workload (a GitHub Actions job, …) trades its OIDC token for a short-lived Latch API token of
 * the one machine whose rules its issuer, audience and claims meet. The Latch token lasts at most
 * an hour and never beyond the OIDC token's own expiry: Latch's credential cannot outlive the
 * proof it was given for. A job that needs longer asks its platform for a fresh OIDC token and
 * exchanges that one.
 */

/** Why a token is not accepted; each is answered with its own message (MESSAGES below). */
export type OidcRejection =
  | 'malformed'
  | 'issuer_untrusted'
  | 'issuer_unavailable'
  | 'algorithm_refused'
  | 'key_unknown'
  | 'signature_invalid'
  | 'expired'
  | 'not_yet_valid'
  | 'audience_wrong'
  | 'claims_missing';

export interface VerifiedOidcToken {
  workload: VerifiedWorkload;
  subject: string;
  /** The token's id: it is accepted once. */
  jti: string;
  expiresAt: Date;
}

export type OidcVerification = { ok: true; token: VerifiedOidcToken } | { ok: false; rejection: OidcRejection; issuer?: string; detail?: string };

/** Checks an OIDC token's signature, issuer, audience and times (src/api/oidc-verifier.ts does, with jose). */
export interface OidcVerifier {
  /**
   * Verifies `jwt` against the issuers the policy trusts, each with the audiences its machines
   * accept, at `now`.
   */
  verify(jwt: string, trusted: ReadonlyMap<string, readonly string[]>, now: Date): Promise<OidcVerification>;
}

/** Remembers the OIDC token ids already exchanged, so each token is accepted once. */
export interface SeenOidcTokens {
  /** True the first time `key` is offered within `ttlSeconds`, false every later time. */
  firstSight(key: string, ttlSeconds: number): Promise<boolean>;
}

export type OidcExchangeContext = Pick<ServiceContext, 'db' | 'policy' | 'clock'> & { verifier: OidcVerifier; seen: SeenOidcTokens };

export type ExchangeRefusal = OidcRejection | 'replayed' | 'no_machine' | 'several_machines';

export type OidcExchange =
  | { ok: true; machineId: string; tokenId: string; token: string; expiresAt: Date }
  | { ok: false; refusal: ExchangeRefusal; status: 401 | 403 | 503; message: string; detail?: string };

/** The longest an exchanged token lasts. */
export const MAX_EXCHANGED_TOKEN_SECONDS = 60 * 60;

const MESSAGES: Record<ExchangeRefusal, { status: 401 | 403 | 503; message: string }> = {
  malformed: { status: 401, message: 'Send an OIDC token (a JWT) as {"token": "…"}: this is not one.' },
  issuer_untrusted: { status: 401, message: "The token's issuer is not one any machine of the policy trusts." },
  issuer_unavailable: { status: 503, message: "Latch could not read the issuer's signing keys just now: try again in a minute." },
  algorithm_refused: { status: 401, message: 'The token is not signed with RS256 or ES256, the only algorithms Latch accepts.' },
  key_unknown: { status: 401, message: "The token is signed with a key the issuer does not publish." },
  signature_invalid: { status: 401, message: "The token's signature is not valid." },
  expired: { status: 401, message: 'The token has expired: ask the platform for a fresh one.' },
  not_yet_valid: { status: 401, message: 'The token is not valid yet: check the clocks.' },
  audience_wrong: { status: 401, message: "The token is for another audience: ask for one with the audience the machine's policy names." },
  claims_missing: { status: 401, message: 'The token lacks a claim Latch needs (iss, aud, exp, iat, sub and jti).' },
  replayed: { status: 401, message: 'This token was already exchanged: each OIDC token is accepted once. Ask the platform for a fresh one.' },
  no_machine: { status: 403, message: "The token's claims match no machine of the policy: check the repository, ref, environment and workflow its rules name." },
  several_machines: { status: 403, message: "The token's claims match more than one machine of the policy: narrow their rules so that one job is one machine." },
};

export async function exchangeOidcToken(ctx: OidcExchangeContext, input: { jwt: string; ip: string }): Promise<OidcExchange> {
  const now = ctx.clock.now();
  const { machines } = ctx.policy();
  const trusted = new Map<string, string[]>();
  for (const machine of machines) {
    if (machine.authentication.type !== 'oidc') continue;
    const { issuer, audience } = machine.authentication;
    trusted.set(issuer, [...(trusted.get(issuer) ?? []), audience]);
  }
  const verified = await ctx.verifier.verify(input.jwt, trusted, now);
  if (!verified.ok) return refuseExchange(ctx, verified.rejection, { ip: input.ip, issuer: verified.issuer, now }, verified.detail);
  const { workload, subject, jti, expiresAt: oidcExpiresAt } = verified.token;
  const about = { ip: input.ip, issuer: workload.issuer, subject, now };

  // Once per issuer and token id, for as long as the token is valid (and the tolerance beyond).
  const ttlSeconds = Math.max(1, Math.ceil((oidcExpiresAt.getTime() - now.getTime()) / 1000) + 60);
  if (!(await ctx.seen.firstSight(`${workload.issuer} ${jti}`, ttlSeconds))) return refuseExchange(ctx, 'replayed', about);

  const matched = machinesForWorkload(machines, workload);
  if (matched.length === 0) return refuseExchange(ctx, 'no_machine', about);
  if (matched.length > 1) return refuseExchange(ctx, 'several_machines', { ...about, machines: matched.map((machine) => machine.id) });
  const machine = matched[0]!;

  const expiresAt = new Date(Math.min(now.getTime() + MAX_EXCHANGED_TOKEN_SECONDS * 1000, oidcExpiresAt.getTime()));
  const { secret, secretHash } = newTokenSecret();
  const id = uuidV7(now.getTime());
  await inTransaction(ctx.db, async (tx) => {
    await insertMachineToken(tx, { id, machineId: machine.id, secretHash, createdAt: now, expiresAt, source: 'oidc', oidcSubject: subject, oidcWorkload: workload });
    await appendAuditEvent(tx, {
      actor: machineRequesterId(machine.id),
      action: 'token.exchanged',
      at: now,
      data: { tokenId: id, machineId: machine.id, issuer: workload.issuer, subject, ip: input.ip, expiresAt: expiresAt.toISOString() },
    });
  });
  return { ok: true, machineId: machine.id, tokenId: id, token: formatToken(id, secret), expiresAt };
}

/** The refusal, with its `api.refused` audit event written alone in its transaction. Never the token itself. */
async function refuseExchange(
  ctx: OidcExchangeContext,
  refusal: ExchangeRefusal,
  about: { ip: string; issuer?: string | undefined; subject?: string; machines?: string[]; now: Date },
  detail?: string,
): Promise<OidcExchange> {
  const { now, ...data } = about;
  await inTransaction(ctx.db, async (tx) => {
    await appendAuditEvent(tx, { actor: 'latch', action: 'api.refused', at: now, data: { path: '/oidc/token', code: `oidc_${refusal}`, ...stripUndefined(data) } });
  });
  return { ok: false, refusal, ...MESSAGES[refusal], ...(detail === undefined ? {} : { detail }) };
}

function stripUndefined(data: Record<string, unknown>): Record<string, string | string[]> {
  return Object.fromEntries(Object.entries(data).filter(([, value]) => value !== undefined)) as Record<string, string | string[]>;
}
