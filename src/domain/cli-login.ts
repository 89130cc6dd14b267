import { randomInt } from 'node:crypto';

/**
 * A person's `latch login` from a terminal, as a device authorization (RFC 8628): the terminal
 * has no Slack session, so it shows a short code, the person types it in Slack (where Slack has
 * already said who they are) and confirms, and the terminal collects a token that acts as them.
 */

/** How long a started login waits to be confirmed and collected. */
export const LOGIN_PENDING_SECONDS = 10 * 60;
/** How long a person's CLI token lasts: a working day, then `latch login` again. */
export const LOGIN_TOKEN_SECONDS = 8 * 60 * 60;
/** How often the terminal asks whether the person has confirmed. */
export const LOGIN_POLL_SECONDS = 3;

/**
 * How many logins may wait to be confirmed at once, across every Latch process, unless
 * LATCH_MAX_WAITING_LOGINS says otherwise. Starting one needs no token, so the per-address limit
 * alone lets someone with many addresses append rows and audit events without end, and every
 * waiting login is one more code a guess in Slack could land on. 200 is far more than the people
 * of one organisation start in any ten minutes; a flood fills it and is refused (and logged).
 */
export const DEFAULT_MAX_WAITING_LOGINS = 200;

/**
 * When a full set of waiting logins frees a place: the earliest of their expiries (a login lapses
 * unconfirmed after LOGIN_PENDING_SECONDS), in whole seconds from `now`, at least 1. What a refused
 * terminal is told to wait (Retry-After); a confirmation or refusal in Slack may free one sooner.
 */
export function secondsUntilAWaitingLoginLapses(earliestExpiry: Date | null, now: Date): number {
  if (earliestExpiry === null) return 1;
  const seconds = Math.ceil((earliestExpiry.getTime() - now.getTime()) / 1000);
  return Math.min(Math.max(seconds, 1), LOGIN_PENDING_SECONDS);
}

/**
 * RFC 8628 §6.1's alphabet: consonants only, so a code never spells a word, and no letters that
 * read alike. 20^8 ≈ 2.6·10^10 codes; a login lives ten minutes and Slack rate-limits the guesses.
 */
const ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';
const CODE_LENGTH = 8;

/** A new code, as stored and compared: 8 letters, no dash. */
export function newUserCode(): string {
  let code = '';
  for (let i = 0; i < CODE_LENGTH; i++) code += ALPHABET[randomInt(ALPHABET.length)];
  return code;
}

/** The code as people read and type it: ABCD-EFGH. */
export function formatUserCode(code: string): string {
  return `${code.slice(0, 4)}-${code.slice(4)}`;
}

/**
 * What a person typed, as stored, or null when it cannot be a code: case, spaces and dashes do
 * not matter (people copy it as they see it).
 */
export function normalizeUserCode(typed: string): string | null {
  const code = typed.replace(/[\s-]/g, '').toUpperCase();
  return code.length === CODE_LENGTH && [...code].every((letter) => ALPHABET.includes(letter)) ? code : null;
}

/**
 * The name a terminal gives itself (its host name), cut to what a Slack message should show:
 * printable characters only, at most 64. It is the terminal's word, shown as such.
 */
export function cleanClientName(name: string | undefined): string {
  const cleaned = (name ?? '').replace(/[^\p{L}\p{N} ._@()-]/gu, '').trim().slice(0, 64);
  return cleaned === '' ? 'unnamed terminal' : cleaned;
}

/** Where a login stands, from its row's times. */
export type CliLoginState = 'pending' | 'confirmed' | 'refused' | 'collected' | 'expired' | 'revoked';

export interface CliLoginTimes {
  expiresAt: Date;
  confirmedAt: Date | null;
  refusedAt: Date | null;
  tokenIssuedAt: Date | null;
  tokenExpiresAt: Date | null;
  revokedAt: Date | null;
}

export function cliLoginState(login: CliLoginTimes, now: Date): CliLoginState {
  if (login.revokedAt) return 'revoked';
  if (login.refusedAt) return 'refused';
  if (login.tokenIssuedAt) return login.tokenExpiresAt && login.tokenExpiresAt > now ? 'collected' : 'expired';
  if (login.expiresAt <= now) return 'expired';
  return login.confirmedAt ? 'confirmed' : 'pending';
}

/**
 * How long a login's row is kept once nothing can use it any more: a day, so an operator looking
 * into yesterday's login (a refusal, a token someone asks about) still finds it. After that its
 * `login.*` audit events say everything the row did (the address and name, the person, the times),
 * and a flood of starts leaves no more than a day of rows behind.
 */
export const LAPSED_LOGIN_KEPT_SECONDS = 24 * 60 * 60;

/** Logins that nothing could use any more before this moment are swept at `now`. */
export function lapsedLoginCutoff(now: Date): Date {
  return new Date(now.getTime() - LAPSED_LOGIN_KEPT_SECONDS * 1000);
}

/**
 * Whether a login's row may be deleted at `now`: nothing could use it since before the cutoff
 * (lapsedLoginCutoff). A login without a token cannot be confirmed or collected once its wait has
 * lapsed (refused ones never can, and are refused within the wait); a login with a token is kept
 * until the token has expired, so `latch token list` still shows a revoked one while it would
 * otherwise be live. A deleted row's token is refused as unknown: its id is never given again and
 * its secret's hash went with the row, so deleting never brings a revoked token back.
 */
export function isLapsedCliLogin(login: CliLoginTimes, now: Date): boolean {
  const cutoff = lapsedLoginCutoff(now);
  // Every login's wait lapses before its token expires: the token is issued during the wait.
  if (login.expiresAt >= cutoff) return false;
  if (login.tokenIssuedAt === null) return true;
  return login.tokenExpiresAt !== null && login.tokenExpiresAt < cutoff;
}
