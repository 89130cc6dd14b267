import { parseToken, secretMatches, type TokenParts } from '../domain/api-token.ts';
import { findMachine, machineRequesterId, type MachinePolicy } from '../domain/machine.ts';
import { workloadMatches } from '../domain/oidc-claims.ts';
import { findMachineToken } from '../store/machine-tokens.ts';
import type { TokenContext } from './create-machine-token.ts';

/** Why a bearer token is not accepted; each says what to do about it, and none says more. */
export type TokenRejection = 'missing' | 'invalid' | 'expired' | 'revoked' | 'machine_unknown' | 'claims_no_longer_match';

export type MachineAuthentication =
  | { ok: true; machine: MachinePolicy; requesterId: string; tokenId: string }
  | { ok: false; rejection: TokenRejection; message: string; tokenId?: string };

const MESSAGES: Record<TokenRejection, string> = {
  missing: 'Send a Latch API token as "Authorization: Bearer latch_…" (`latch token create <machine>` makes one).',
  invalid: 'This is not a valid Latch API token.',
  expired: 'This API token has expired: ask an operator for a new one (`latch token create <machine>`).',
  revoked: 'This API token was revoked: ask an operator for a new one (`latch token create <machine>`).',
  machine_unknown: 'The machine this token was issued to is no longer in the policy, so its tokens are refused.',
  claims_no_longer_match: "The machine's OIDC rules in the policy no longer accept the OIDC token this API token was exchanged for: exchange a fresh one.",
};

const rejected = (rejection: TokenRejection, tokenId?: string): MachineAuthentication => ({ ok: false, rejection, message: MESSAGES[rejection], ...(tokenId ? { tokenId } : {}) });

/**
 * Which machine an `Authorization` header speaks for. The token's row is read by its id and its
 * secret compared with the stored hash in constant time; an unknown id and a wrong secret get the
 * same answer. Expiry, revocation and the machine's place in the policy in force are checked on
 * every call, so revoking a token or removing a machine takes effect at once.
 */
export async function authenticateMachine(ctx: TokenContext, authorization: string | undefined): Promise<MachineAuthentication> {
  const parts = bearerTokenParts(authorization);
  if (!parts.ok) return parts;
  return (await authenticateMachineToken(ctx, parts.token)) ?? rejected('invalid');
}

/** The token in an `Authorization: Bearer …` header, split, or why there is none. */
export function bearerTokenParts(authorization: string | undefined): { ok: true; token: TokenParts } | { ok: false; rejection: 'missing' | 'invalid'; message: string } {
  const match = /^Bearer +(\S+) *$/i.exec(authorization ?? '');
  if (!match) return { ok: false, rejection: 'missing', message: MESSAGES.missing };
  const token = parseToken(match[1]!);
  return token ? { ok: true, token } : { ok: false, rejection: 'invalid', message: MESSAGES.invalid };
}

/** As authenticateMachine, for a token already split; null when no machine token has its id. */
export async function authenticateMachineToken(ctx: TokenContext, parts: TokenParts): Promise<MachineAuthentication | null> {
  const row = await findMachineToken(ctx.db, parts.id);
  if (!row) return null;
  if (!secretMatches(parts.secret, row.secretHash)) return rejected('invalid');
  if (row.revokedAt) return rejected('revoked', row.id);
  if (row.expiresAt.getTime() <= ctx.clock.now().getTime()) return rejected('expired', row.id);
  const machine = findMachine(ctx.policy().machines, row.machineId);
  // A token is good only while its machine still authenticates the way it was issued: an operator's
  // token stops when the machine moves to OIDC, an exchanged one when it moves off it.
  const issuedFor = row.source === 'oidc' ? 'oidc' : 'token';
  if (!machine || machine.authentication.type !== issuedFor) return rejected('machine_unknown', row.id);
  // The policy in force decides at every call: rules narrowed since the exchange apply at once.
  if (machine.authentication.type === 'oidc' && (!row.oidcWorkload || !workloadMatches(machine.authentication, row.oidcWorkload))) return rejected('claims_no_longer_match', row.id);
  return { ok: true, machine, requesterId: machineRequesterId(machine.id), tokenId: row.id };
}
