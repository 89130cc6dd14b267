import { secretMatches } from '../domain/api-token.ts';
import { cliLoginState } from '../domain/cli-login.ts';
import { accountRefusal } from '../domain/identity.ts';
import type { MachinePolicy } from '../domain/machine.ts';
import { authenticateMachineToken, bearerTokenParts } from './authenticate-machine.ts';
import { findCliLogin } from '../store/cli-logins.ts';
import type { ServiceContext } from './service-context.ts';

/** Who an /api/v1 call speaks for: a machine of the policy, or a person through their `latch login`. */
export type ApiCaller =
  | { kind: 'machine'; machine: MachinePolicy; requesterId: string; tokenId: string }
  | { kind: 'person'; requesterId: string; tokenId: string };

export type ApiAuthentication =
  | ({ ok: true } & ApiCaller)
  | { ok: false; status: 401 | 503; rejection: string; message: string; tokenId?: string };

const PERSON_MESSAGES = {
  invalid: 'This is not a valid Latch API token.',
  expired: 'Your `latch login` has expired (it lasts a working day): run `latch login` again.',
  revoked: 'This login was ended (`latch logout`, or by an operator): run `latch login` again.',
  person_inactive: 'The Slack account this login acts as may not use Latch any more',
  profile_unavailable: 'Latch could not check your Slack account just now; try again in a minute.',
} as const;

/**
 * Which machine or person an `Authorization` header speaks for. Machines: authenticateMachine's
 * rules. People: the token of a confirmed `latch login` (cli-logins.ts), its secret compared with
 * the stored hash in constant time, not expired or revoked, and their Slack account still a person
 * of this workspace (Slack's word, cached for minutes): deactivating someone in Slack ends their
 * terminal's access too, as it ends their Slack sessions.
 */
export async function authenticateApiCaller(ctx: Pick<ServiceContext, 'db' | 'policy' | 'clock' | 'users'>, authorization: string | undefined): Promise<ApiAuthentication> {
  const parts = bearerTokenParts(authorization);
  if (!parts.ok) return { ...parts, status: 401 };
  const machine = await authenticateMachineToken(ctx, parts.token);
  if (machine) return machine.ok ? { ok: true, kind: 'machine', machine: machine.machine, requesterId: machine.requesterId, tokenId: machine.tokenId } : { ...machine, status: 401 };
  const login = await findCliLogin(ctx.db, parts.token.id);
  const rejected = (rejection: keyof typeof PERSON_MESSAGES, message: string = PERSON_MESSAGES[rejection]): ApiAuthentication => ({
    ok: false,
    status: rejection === 'profile_unavailable' ? 503 : 401,
    rejection,
    message,
    ...(login && rejection !== 'invalid' ? { tokenId: login.id } : {}),
  });
  if (!login?.tokenSecretHash || !login.slackUserId || !secretMatches(parts.token.secret, login.tokenSecretHash)) return rejected('invalid');
  const state = cliLoginState(login, ctx.clock.now());
  if (state === 'revoked') return rejected('revoked');
  if (state !== 'collected') return rejected('expired');
  const profile = await ctx.users.profile(login.slackUserId);
  if (!profile) return rejected('profile_unavailable');
  const refused = accountRefusal(profile.account, { allowGuests: true }, 'Latch');
  if (refused) return rejected('person_inactive', `${PERSON_MESSAGES.person_inactive}: ${refused}`);
  return { ok: true, kind: 'person', requesterId: login.slackUserId, tokenId: login.id };
}
