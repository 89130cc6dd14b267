import type { Logger } from '../logging/logger.ts';

/**
 * A lock a provider takes around a change that is not atomic in its target, held across every
 * Latch process that shares the database: Slack can only replace a user group's whole member list,
 * so two processes that read, modify and write the same group at once lose one change, and a
 * revoked person can be written back. The provider holds the lock for read, write and read-back.
 *
 * Providers get it when they are built (see ProviderServices), never a database handle: the store
 * implements it (src/store/target-lock.ts), tests may give an in-memory one.
 */
export interface TargetLocks {
  /**
   * Runs `work` while no other holder of `key` runs, in this or any other process. Waits a bounded
   * time for the lock: when it cannot be had (another holder is stuck, the database is down) it
   * rejects with `TargetLockUnavailable` and `work` never runs. `work`'s own errors pass through.
   */
  withLock<T>(key: string, work: () => Promise<T>): Promise<T>;
}

/** The lock could not be taken in time; nothing was changed, and trying again later can work. */
export class TargetLockUnavailable extends Error {
  constructor(readonly key: string, reason: string) {
    super(`could not take the lock on ${key}: ${reason}`);
    this.name = 'TargetLockUnavailable';
  }
}

/** What a provider factory is given besides its settings and the environment. */
export interface ProviderServices {
  locks: TargetLocks;
  logger?: Logger;
}
