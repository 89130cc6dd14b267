/**
 * What stops `latch migrate`, worded for the person running it: a failed migration nobody
 * resolved, a migration that failed now, a schema with no history to build on, or a migrations
 * folder that cannot be applied. The message names the migration and says what to do.
 */
export class MigrationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MigrationError';
  }
}
