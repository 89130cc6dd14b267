import type { ServerResponse } from 'node:http';
import type { Logger } from '../logging/logger.ts';
import { addressLimitKey } from './client-address.ts';
import { sendProblem } from './problem.ts';
import { PrincipalRateLimiter } from './rate-limiter.ts';

/** Failed token checks per client address: a burst of 30, then one every 2 s. */
export const FAILED_TOKEN_CHECKS_PER_MINUTE = 30;
export const FAILED_TOKEN_CHECK_BURST = 30;
/** While an address is refused, one warning per this long, not one per refusal. */
export const REFUSED_TOKEN_CHECKS_WARNING_INTERVAL_MS = 60_000;

/**
 * A limit per client address on bearer tokens that fail their check, on `/api/v1` and `/mcp`
 * alike (one instance serves both, so alternating gains nothing). Checking a token costs primary-
 * key reads and a warning line whether or not its id is real, so whoever guesses or replays tokens
 * would otherwise spend both as fast as they can send. Each check takes a place in its address's
 * bucket before the token is looked at, and one that did not fail gives it back: good tokens are
 * never counted, and however many calls arrive at once, no more than the bucket holds are checked
 * (a place given back only after a check would let a crowd of calls in before the first failed).
 *
 * A good token from an address whose bucket is empty is refused too, without a look: telling it
 * from a bad one costs the very reads this limit saves, so letting tokens through would let a
 * flood through. A machine sharing an address (a NAT) with someone sending bad tokens waits with
 * them, told for how long; once the bad tokens stop, the next 2 s give it a place.
 */
export class FailedTokenChecks {
  private readonly refusals = { warnedAtMs: Number.NEGATIVE_INFINITY, sinceWarning: 0 };

  constructor(
    private readonly logger: Logger,
    private readonly limiter = new PrincipalRateLimiter(FAILED_TOKEN_CHECKS_PER_MINUTE, FAILED_TOKEN_CHECK_BURST),
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Runs `check` on a token from `ip`, unless too many have failed from there: then the seconds to
   * wait, with no check made and no line logged. Only what `failed` says of a check's result is
   * counted: a good token is not, nor a check Latch could not finish (it threw: its database down).
   */
  async check<T>(ip: string, path: string, check: () => Promise<T>, failed: (result: T) => boolean): Promise<{ ok: true; result: T } | { ok: false; waitSeconds: number }> {
    const key = `ip:${addressLimitKey(ip)}`;
    const waitSeconds = this.limiter.take(key);
    if (waitSeconds !== null) {
      this.refused(ip, path);
      return { ok: false, waitSeconds };
    }
    let result: T;
    try {
      result = await check();
    } catch (error) {
      this.limiter.giveBack(key);
      throw error;
    }
    if (!failed(result)) this.limiter.giveBack(key);
    return { ok: true, result };
  }

  private refused(ip: string, path: string): void {
    this.refusals.sinceWarning++;
    const nowMs = this.now();
    if (nowMs - this.refusals.warnedAtMs < REFUSED_TOKEN_CHECKS_WARNING_INTERVAL_MS) return;
    this.logger.warn(
      { refused: this.refusals.sinceWarning, lastIp: ip, path },
      'API calls refused unchecked: too many bad tokens came from one address, so someone may be guessing or replaying tokens; its calls are refused (429) until its rate of failed checks falls',
    );
    this.refusals.warnedAtMs = nowMs;
    this.refusals.sinceWarning = 0;
  }
}

/** 429 for a call whose token was not checked (`check` answered the seconds to wait). */
export function refuseUnchecked(res: ServerResponse, waitSeconds: number): void {
  sendProblem(res, 429, 'too_many_failed_token_checks', `Too many calls with a bad token came from this address, so Latch checks no token from it for now: try again in ${waitSeconds} s.`, {
    headers: { 'retry-after': String(waitSeconds) },
  });
}
