/**
 * Counts work that runs on its own after whoever asked for it was answered: a Bolt listener
 * still posting to Slack and writing PostgreSQL after its ack, a job a worker is running.
 * Shutdown waits until it is idle before it closes the connections that work needs.
 */
export class InFlightWork {
  private active = 0;
  private waiters: Array<() => void> = [];

  get count(): number {
    return this.active;
  }

  /** Runs `work`, counted while it runs, and gives back what it gives. */
  async track<T>(work: () => Promise<T>): Promise<T> {
    this.active += 1;
    try {
      return await work();
    } finally {
      this.active -= 1;
      if (this.active === 0) for (const wake of this.waiters.splice(0)) wake();
    }
  }

  /** Resolves when nothing is running (at once if nothing is). */
  idle(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}
