/**
 * A failure BullMQ should retry, on the job's backoff. `permanent` (bad credentials, a role that
 * vanished) picks the slow revocation schedule at once; its name is what the backoff reads.
 */
export class RetryableFailure extends Error {
  constructor(message: string, readonly permanent = false) {
    super(message);
    this.name = permanent ? PERMANENT_FAILURE : 'TransientProviderFailure';
  }
}

export const PERMANENT_FAILURE = 'PermanentProviderFailure';
