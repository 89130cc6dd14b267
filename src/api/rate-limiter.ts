/**
 * A token bucket per principal: `burst` calls at once, refilled at `perMinute`. Kept in this
 * process's memory: each `latch web` limits on its own, which bounds what one machine can make
 * one process do (a loop in a pipeline), not the deployment's total.
 */
export class PrincipalRateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly perMinute = 120,
    private readonly burst = 30,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one call from the principal's bucket: null when allowed, else the seconds to wait. */
  take(principal: string): number | null {
    const now = this.now();
    const bucket = this.buckets.get(principal) ?? { tokens: this.burst, at: now };
    const refilled = Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 60_000) * this.perMinute);
    if (refilled < 1) {
      this.buckets.set(principal, { tokens: refilled, at: now });
      return Math.ceil(((1 - refilled) * 60) / this.perMinute);
    }
    this.buckets.set(principal, { tokens: refilled - 1, at: now });
    // Forget the full buckets now and then, so the map holds only principals seen lately.
    if (this.buckets.size > 10_000) for (const [key, value] of this.buckets) if (value.tokens >= this.burst - 1) this.buckets.delete(key);
    return null;
  }

  /** Gives back one call `take` allowed, for a limit that counts only calls that turn out badly. */
  giveBack(principal: string): void {
    const bucket = this.buckets.get(principal);
    if (bucket) bucket.tokens = Math.min(this.burst, bucket.tokens + 1);
  }
}
