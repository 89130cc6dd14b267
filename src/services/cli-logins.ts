import { formatToken, hashTokenSecret, newTokenSecret } from '../domain/api-token.ts';
import { cliLoginState, formatUserCode, LOGIN_PENDING_SECONDS, LOGIN_POLL_SECONDS, LOGIN_TOKEN_SECONDS, newUserCode, normalizeUserCode, secondsUntilAWaitingLoginLapses } from '../domain/cli-login.ts';
import { accountRefusal } from '../domain/identity.ts';
import { appendAuditEvent } from '../store/audit-log.ts';
import {
  confirmCliLogin,
  countWaitingCliLogins,
  earliestWaitingCliLoginExpiry,
  findCliLoginByDeviceSecret,
  findWaitingCliLogins,
  insertCliLogin,
  lockCliLogin,
  lockLoginStarts,
  recordCliLoginToken,
  refuseCliLogin,
  revokeCliLogin,
  type CliLoginRow,
} from '../store/cli-logins.ts';
import { inTransaction } from '../store/transaction.ts';
import { uuidV7 } from '../store/uuid-v7.ts';
import { isRequestId } from './request-id.ts';
import type { ServiceContext } from './service-context.ts';

/**
 * A person's `latch login` (a device authorization, RFC 8628; domain/cli-login.ts): a terminal
 * starts it and shows a code; the person types `/request-access login <code>` in Slack, where
 * Slack vouches for who they are, and confirms; the terminal collects a token that acts as them,
 * once. Each step and its audit event are one transaction. The device secret the terminal polls
 * with and the token's secret are stored only as hashes.
 *
 * Why a confirmation and not the code alone: someone who starts a login can send the code to a
 * colleague ("type this to fix your access"). The confirmation shows where the login came from and
 * what it can do, and "It was not me" ends it and is audited for the security team.
 */

export type LoginContext = Pick<ServiceContext, 'db' | 'clock' | 'users' | 'logger'>;

/** The text of a device secret: a fixed prefix, so a leaked one is recognisable, and 256 random bits. */
const DEVICE_PREFIX = 'latchdevice_';

export interface StartedCliLogin {
  loginId: string;
  deviceCode: string;
  /** As shown and typed: ABCD-EFGH. */
  userCode: string;
  expiresAt: Date;
  intervalSeconds: number;
}

/** Started, or refused because `maxWaiting` logins already wait: nothing was written then. */
export type StartLoginResult = { ok: true; login: StartedCliLogin } | { ok: false; waiting: number; retryAfterSeconds: number };

/**
 * Starts a login for a terminal at `clientAddress` that calls itself `clientName`, unless
 * `maxWaiting` logins already wait for a person (DEFAULT_MAX_WAITING_LOGINS): anyone may start
 * one, so the bound is what keeps a flood from many addresses from appending to the table and the
 * audit trail without end. Counted and inserted under one lock (lockLoginStarts), so processes
 * starting logins at once never pass it together.
 */
export async function startCliLogin(ctx: Pick<ServiceContext, 'db' | 'clock'>, input: { clientAddress: string; clientName: string; maxWaiting: number }): Promise<StartLoginResult> {
  const now = ctx.clock.now();
  const { secret, secretHash: deviceSecretHash } = newTokenSecret();
  const id = uuidV7(now.getTime());
  const userCode = newUserCode();
  const expiresAt = new Date(now.getTime() + LOGIN_PENDING_SECONDS * 1000);
  return inTransaction(ctx.db, async (tx): Promise<StartLoginResult> => {
    await lockLoginStarts(tx);
    const waiting = await countWaitingCliLogins(tx, now, input.maxWaiting);
    if (waiting >= input.maxWaiting) return { ok: false, waiting, retryAfterSeconds: secondsUntilAWaitingLoginLapses(await earliestWaitingCliLoginExpiry(tx, now), now) };
    await insertCliLogin(tx, { id, deviceSecretHash, userCode, clientAddress: input.clientAddress, clientName: input.clientName, createdAt: now, expiresAt });
    await appendAuditEvent(tx, { actor: 'anonymous', action: 'login.started', at: now, data: { loginId: id, clientAddress: input.clientAddress, clientName: input.clientName, expiresAt: expiresAt.toISOString() } });
    return { ok: true, login: { loginId: id, deviceCode: `${DEVICE_PREFIX}${secret}`, userCode: formatUserCode(userCode), expiresAt, intervalSeconds: LOGIN_POLL_SECONDS } };
  });
}

/** A waiting login as the person is asked to confirm it. */
export interface WaitingCliLogin {
  loginId: string;
  userCode: string;
  clientAddress: string;
  clientName: string;
  startedAt: Date;
  expiresAt: Date;
}

export type FindLoginResult = { ok: true; login: WaitingCliLogin } | { ok: false; message: string };

/** The waiting login a person's typed code names, to be shown before they confirm. */
export async function findCliLoginToConfirm(ctx: Pick<ServiceContext, 'db' | 'clock'>, typed: string): Promise<FindLoginResult> {
  const code = normalizeUserCode(typed);
  if (code === null) return { ok: false, message: `"${typed.slice(0, 20)}" is not a login code: it is 8 letters, like BCDF-GHJK, as \`latch login\` printed it.` };
  const waiting = await findWaitingCliLogins(ctx.db, code, ctx.clock.now());
  if (waiting.length === 0) return { ok: false, message: `No login is waiting for code ${formatUserCode(code)}: it may have expired (they last ${LOGIN_PENDING_SECONDS / 60} minutes). Run \`latch login\` again.` };
  // Two terminals drew the same code (one chance in billions): neither is confirmed by a guess.
  if (waiting.length > 1) return { ok: false, message: `Two logins are waiting with code ${formatUserCode(code)}: run \`latch login\` again for a new code.` };
  return { ok: true, login: waitingOf(waiting[0]!) };
}

export type DecideLoginResult = { ok: true; confirmed: boolean; login: WaitingCliLogin } | { ok: false; message: string };

/**
 * The person's answer to a login they were shown: confirmed, the terminal may collect a token
 * acting as them; refused, it never will. Only a login still waiting, whose code is the one the
 * person typed, and only for a person of this workspace (no bot, guest of another organisation or
 * deactivated account).
 */
export async function decideCliLogin(ctx: LoginContext, input: { loginId: string; userCode: string; slackUserId: string; confirm: boolean }): Promise<DecideLoginResult> {
  if (input.confirm) {
    const profile = await ctx.users.profile(input.slackUserId);
    if (!profile) return { ok: false, message: 'Latch could not read your Slack profile just now; try again in a minute.' };
    // Guests may log in: what they may request is the policy's to say, resource by resource.
    const refused = accountRefusal(profile.account, { allowGuests: true }, 'the Latch CLI');
    if (refused) return { ok: false, message: refused };
  }
  const now = ctx.clock.now();
  return inTransaction(ctx.db, async (tx): Promise<DecideLoginResult> => {
    const login = await lockCliLogin(tx, input.loginId);
    if (!login || login.userCode !== normalizeUserCode(input.userCode)) return { ok: false, message: 'This login is not waiting any more: run `latch login` again.' };
    const state = cliLoginState(login, now);
    if (state !== 'pending') {
      const why = state === 'expired' ? 'it expired' : state === 'refused' ? 'it was refused' : 'it was already confirmed';
      return { ok: false, message: `This login cannot be answered any more: ${why}. Run \`latch login\` again if you need one.` };
    }
    const data = { loginId: login.id, clientAddress: login.clientAddress, clientName: login.clientName };
    if (input.confirm) {
      await confirmCliLogin(tx, login.id, input.slackUserId, now);
      await appendAuditEvent(tx, { actor: input.slackUserId, action: 'login.confirmed', at: now, data });
    } else {
      await refuseCliLogin(tx, login.id, input.slackUserId, now);
      await appendAuditEvent(tx, { actor: input.slackUserId, action: 'login.refused', at: now, data });
      ctx.logger.warn({ user: input.slackUserId, ...data }, 'a person refused a CLI login started with their code: someone may have asked them to type it');
    }
    return { ok: true, confirmed: input.confirm, login: waitingOf(login) };
  });
}

/** Why a terminal gets no token (yet): RFC 8628 §3.5's error codes, and what to tell the person. */
export type CollectRefusal = 'authorization_pending' | 'access_denied' | 'expired_token' | 'invalid_grant';

export type CollectLoginResult =
  | { ok: true; token: string; tokenId: string; slackUserId: string; expiresAt: Date }
  | { ok: false; error: CollectRefusal; message: string };

/**
 * The terminal's poll: its token, once the person has confirmed, given once (a second poll with
 * the same device code is refused, so a device code seen later by someone else is worth nothing).
 */
export async function collectCliLoginToken(ctx: Pick<ServiceContext, 'db' | 'clock'>, input: { deviceCode: string }): Promise<CollectLoginResult> {
  const invalid = { ok: false as const, error: 'invalid_grant' as const, message: 'This login is unknown or was already collected: run `latch login` again.' };
  if (!input.deviceCode.startsWith(DEVICE_PREFIX)) return invalid;
  const found = await findCliLoginByDeviceSecret(ctx.db, hashTokenSecret(input.deviceCode.slice(DEVICE_PREFIX.length)));
  if (!found) return invalid;
  const now = ctx.clock.now();
  return inTransaction(ctx.db, async (tx): Promise<CollectLoginResult> => {
    const login = await lockCliLogin(tx, found.id);
    if (!login) return invalid;
    switch (cliLoginState(login, now)) {
      case 'pending':
        return { ok: false, error: 'authorization_pending', message: 'Waiting for you to confirm in Slack.' };
      case 'refused':
        return { ok: false, error: 'access_denied', message: 'The login was refused in Slack ("It was not me"): nothing was logged in.' };
      case 'expired':
        return { ok: false, error: 'expired_token', message: `Nobody confirmed the login within ${LOGIN_PENDING_SECONDS / 60} minutes: run \`latch login\` again.` };
      case 'collected':
      case 'revoked':
        return invalid;
      case 'confirmed':
        break;
    }
    const { secret, secretHash } = newTokenSecret();
    const expiresAt = new Date(now.getTime() + LOGIN_TOKEN_SECONDS * 1000);
    await recordCliLoginToken(tx, login.id, { secretHash, issuedAt: now, expiresAt });
    await appendAuditEvent(tx, { actor: login.slackUserId!, action: 'login.token_issued', at: now, data: { loginId: login.id, tokenId: login.id, clientAddress: login.clientAddress, expiresAt: expiresAt.toISOString() } });
    return { ok: true, token: formatToken(login.id, secret), tokenId: login.id, slackUserId: login.slackUserId!, expiresAt };
  });
}

/** `latch logout`: the person's token is refused from now on. Whether it was still live. */
export async function endCliLogin(ctx: Pick<ServiceContext, 'db' | 'clock'>, input: { loginId: string; actor: string }): Promise<boolean> {
  if (!isRequestId(input.loginId)) return false;
  const now = ctx.clock.now();
  return inTransaction(ctx.db, async (tx) => {
    if (!(await revokeCliLogin(tx, input.loginId, now))) return false;
    await appendAuditEvent(tx, { actor: input.actor, action: 'login.revoked', at: now, data: { loginId: input.loginId, tokenId: input.loginId } });
    return true;
  });
}

function waitingOf(login: CliLoginRow): WaitingCliLogin {
  return { loginId: login.id, userCode: formatUserCode(login.userCode), clientAddress: login.clientAddress, clientName: login.clientName, startedAt: login.createdAt, expiresAt: login.expiresAt };
}
