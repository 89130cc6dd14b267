import type { Logger } from '../logging/logger.ts';
import type { GrantRequester } from '../services/service-context.ts';

/**
 * Where an approved request goes to be granted. Providers and the grant job do not exist yet:
 * until they do, an approved request stays `approved` (granting nothing) and this records that
 * it is waiting. The grant job replaces this class; nothing else changes.
 */
export class LoggingGrantRequester implements GrantRequester {
  constructor(private readonly logger: Logger) {}

  async requestGrant(requestId: string): Promise<void> {
    this.logger.warn({ accessRequestId: requestId }, 'request approved; no provider is wired in yet, so nothing was granted');
  }
}
