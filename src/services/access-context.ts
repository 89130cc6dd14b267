import type { ProviderSettings } from '../domain/policy.ts';
import type { AccessProvider } from '../providers/provider.ts';
import type { AccessLocks } from '../store/access-lock.ts';
import type { ServiceContext } from './service-context.ts';

/**
 * What the grant and revoke use cases need beyond every use case's context: the provider that
 * serves a resource, and the lock that keeps grants and revokes of one access from interleaving.
 */
export interface AccessContext extends ServiceContext {
  /** The provider configured for `resourceId` in the policy in force, if it still has one. */
  providerFor(resourceId: string): AccessProvider | undefined;
  /**
   * A provider built from settings a grant recorded, for revoking access whose resource left the
   * policy (or whose provider changed since): undefined when it cannot be built (a variable it
   * names is gone). Absent in contexts that only ever see the policy they started with.
   */
  providerForSettings?(settings: ProviderSettings): Promise<AccessProvider | undefined>;
  locks: AccessLocks;
}

/**
 * How failures are shown and stored: one line, bounded, so a provider that returns a novel never
 * fills a Slack message or a column.
 */
export function oneLine(message: string, max = 500): string {
  const line = message.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}
