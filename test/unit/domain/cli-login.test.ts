import { describe, expect, it } from 'vitest';
import {
  cleanClientName,
  cliLoginState,
  formatUserCode,
  isLapsedCliLogin,
  LAPSED_LOGIN_KEPT_SECONDS,
  LOGIN_PENDING_SECONDS,
  LOGIN_TOKEN_SECONDS,
  newUserCode,
  normalizeUserCode,
  secondsUntilAWaitingLoginLapses,
  type CliLoginTimes,
} from '../../../src/domain/cli-login.ts';

describe('login codes', () => {
  it('are 8 consonants that read alike in no font, shown as ABCD-EFGH', () => {
    const codes = Array.from({ length: 200 }, newUserCode);
    for (const code of codes) expect(code).toMatch(/^[BCDFGHJKLMNPQRSTVWXZ]{8}$/);
    // 200 draws from 20^8 codes: a repeat would mean the generator is not random.
    expect(new Set(codes).size).toBe(200);
    expect(formatUserCode('BCDFGHJK')).toBe('BCDF-GHJK');
  });

  it('are read as typed: case, spaces and dashes do not matter; anything else is no code', () => {
    expect(normalizeUserCode('bcdf-ghjk')).toBe('BCDFGHJK');
    expect(normalizeUserCode(' BCDF GHJK ')).toBe('BCDFGHJK');
    expect(normalizeUserCode('BCDF-GHJ')).toBeNull();
    // Vowels and digits are not in the alphabet: a typo, or not a code at all.
    expect(normalizeUserCode('ABCD-EFGH')).toBeNull();
    expect(normalizeUserCode("BCDF'; DROP")).toBeNull();
  });
});

describe('a terminal\'s name', () => {
  it('keeps letters, digits and a few separators, at most 64 characters', () => {
    expect(cleanClientName('alice-laptop.local')).toBe('alice-laptop.local');
    expect(cleanClientName('<!channel> *urgent* `x`')).toBe('channel urgent x');
    expect(cleanClientName('x'.repeat(100))).toHaveLength(64);
    expect(cleanClientName(undefined)).toBe('unnamed terminal');
    expect(cleanClientName('<>')).toBe('unnamed terminal');
  });
});

describe('where a login stands', () => {
  const now = new Date('2026-12-04T12:00:00Z');
  const later = new Date('2026-12-04T12:05:00Z');
  const earlier = new Date('2026-12-04T11:55:00Z');
  const waiting = { expiresAt: later, confirmedAt: null, refusedAt: null, tokenIssuedAt: null, tokenExpiresAt: null, revokedAt: null };

  it('waits, is confirmed, then collected until its token expires', () => {
    expect(cliLoginState(waiting, now)).toBe('pending');
    expect(cliLoginState({ ...waiting, confirmedAt: earlier }, now)).toBe('confirmed');
    expect(cliLoginState({ ...waiting, confirmedAt: earlier, tokenIssuedAt: earlier, tokenExpiresAt: later }, now)).toBe('collected');
    expect(cliLoginState({ ...waiting, confirmedAt: earlier, tokenIssuedAt: earlier, tokenExpiresAt: now }, now)).toBe('expired');
  });

  it('expires unconfirmed, and a refusal or a revocation is final', () => {
    expect(cliLoginState({ ...waiting, expiresAt: now }, now)).toBe('expired');
    expect(cliLoginState({ ...waiting, confirmedAt: earlier, expiresAt: earlier }, now)).toBe('expired');
    expect(cliLoginState({ ...waiting, refusedAt: earlier }, now)).toBe('refused');
    expect(cliLoginState({ ...waiting, confirmedAt: earlier, tokenIssuedAt: earlier, tokenExpiresAt: later, revokedAt: earlier }, now)).toBe('revoked');
  });
});

describe('when a full set of waiting logins frees a place', () => {
  const now = new Date('2026-12-09T09:00:00.000Z');
  const inSeconds = (seconds: number) => new Date(now.getTime() + seconds * 1000);

  it('is when the first of them lapses, in whole seconds rounded up', () => {
    expect(secondsUntilAWaitingLoginLapses(inSeconds(42), now)).toBe(42);
    expect(secondsUntilAWaitingLoginLapses(inSeconds(41.2), now)).toBe(42);
  });

  it('is never under a second, nor over how long a login waits', () => {
    // Lapsing this very moment, or none left (freed between the count and the read): try again at once, not "0 s".
    expect(secondsUntilAWaitingLoginLapses(inSeconds(0.001), now)).toBe(1);
    expect(secondsUntilAWaitingLoginLapses(now, now)).toBe(1);
    expect(secondsUntilAWaitingLoginLapses(null, now)).toBe(1);
    // A row written with a later expiry by hand or by a clock ahead still tells no one to wait longer than a login lives.
    expect(secondsUntilAWaitingLoginLapses(inSeconds(3 * LOGIN_PENDING_SECONDS), now)).toBe(LOGIN_PENDING_SECONDS);
  });
});

describe('which logins are swept', () => {
  const now = new Date('2026-12-04T12:00:00Z');
  const ago = (seconds: number) => new Date(now.getTime() - seconds * 1000);
  const DAY = LAPSED_LOGIN_KEPT_SECONDS;
  /** A login started `startedAgo` seconds before now, then what happened to it, in seconds after its start. */
  function login(startedAgo: number, then: { confirmed?: number; refused?: number; collected?: number; revoked?: number } = {}): CliLoginTimes {
    const at = (after: number | undefined) => (after === undefined ? null : ago(startedAgo - after));
    return {
      expiresAt: ago(startedAgo - LOGIN_PENDING_SECONDS),
      confirmedAt: at(then.confirmed),
      refusedAt: at(then.refused),
      tokenIssuedAt: at(then.collected),
      tokenExpiresAt: then.collected === undefined ? null : ago(startedAgo - then.collected - LOGIN_TOKEN_SECONDS),
      revokedAt: at(then.revoked),
    };
  }

  it('are those nothing could use for a day: lapsed or refused unanswered, or their token expired', () => {
    expect(isLapsedCliLogin(login(2 * DAY), now)).toBe(true);
    expect(isLapsedCliLogin(login(2 * DAY, { refused: 60 }), now)).toBe(true);
    expect(isLapsedCliLogin(login(2 * DAY, { confirmed: 60 }), now)).toBe(true);
    expect(isLapsedCliLogin(login(2 * DAY, { confirmed: 60, collected: 63 }), now)).toBe(true);
    expect(isLapsedCliLogin(login(2 * DAY, { confirmed: 60, collected: 63, revoked: 3600 }), now)).toBe(true);
  });

  it('keep a day after they lapsed, and every token until a day after it expires, revoked or not', () => {
    expect(isLapsedCliLogin(login(60), now)).toBe(false);
    expect(isLapsedCliLogin(login(DAY), now)).toBe(false);
    expect(isLapsedCliLogin(login(DAY, { refused: 60 }), now)).toBe(false);
    // Lapsed a day and a minute ago, but its token is live for hours yet, or expired under a day ago.
    expect(isLapsedCliLogin(login(DAY + LOGIN_PENDING_SECONDS + 60, { confirmed: 60, collected: 63 }), now)).toBe(false);
    expect(isLapsedCliLogin(login(DAY + LOGIN_PENDING_SECONDS + 60, { confirmed: 60, collected: 63, revoked: 120 }), now)).toBe(false);
    expect(isLapsedCliLogin(login(DAY + LOGIN_TOKEN_SECONDS, { confirmed: 60, collected: 63 }), now)).toBe(false);
  });

  it('never take a login that was waiting, confirmed or had a live token at any moment of the last day', () => {
    const minutes = (n: number) => n * 60;
    const usable: unknown[] = [];
    let swept = 0;
    for (let startedAgo = 0; startedAgo <= 2 * DAY + LOGIN_TOKEN_SECONDS; startedAgo += minutes(7)) {
      for (const then of [{}, { refused: minutes(2) }, { confirmed: minutes(2) }, { confirmed: minutes(2), collected: minutes(3) }, { confirmed: minutes(2), collected: minutes(9), revoked: minutes(30) }]) {
        const row = login(startedAgo, then);
        if (!isLapsedCliLogin(row, now)) continue;
        swept++;
        for (let since = 0; since <= DAY; since += minutes(5)) {
          const state = cliLoginState(row, ago(since));
          if (state !== 'expired' && state !== 'refused' && state !== 'revoked') usable.push({ startedAgo, then, since, state });
        }
      }
    }
    expect(usable).toEqual([]);
    // The grid reaches logins that are swept, not only ones kept.
    expect(swept).toBeGreaterThan(100);
  });
});
