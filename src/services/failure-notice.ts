import { randomBytes } from 'node:crypto';
import type { ProviderFailureKind } from '../providers/provider.ts';
import { providerDefinition } from '../providers/registry.ts';

/**
 * What people are told when granting or revoking fails. A provider's failure message quotes the
 * outside world: a webhook receiver's response body, a database error naming accounts, internal
 * host names and URLs. That text goes to the log and the audit event only. What is stored for
 * Slack (the request's outcome reason, the grant's last error) is a fixed sentence per kind of
 * failure, written here, with a reference that finds the details in the log and the audit trail:
 * nothing a target says can @channel, disguise a link, or tell a requester about internals.
 */

export type AccessOperation = 'grant' | 'revocation';

/** Where the failure came from: a provider of this type, or Latch's own refusal before calling one. */
export type FailureSource = { provider: string; kind: ProviderFailureKind } | 'unconfigured' | 'no_account';

export interface FailureNotice {
  /** Short, random, unique enough to find one failure in the log and the audit events. */
  ref: string;
  /** The sentence people read, with the reference. Latch's own words only. */
  text: string;
}

export function failureNotice(operation: AccessOperation, source: FailureSource): FailureNotice {
  const ref = randomBytes(4).toString('hex');
  return { ref, text: `${sentence(operation, source)} (reference ${ref})` };
}

function sentence(operation: AccessOperation, source: FailureSource): string {
  if (source === 'unconfigured') {
    return operation === 'grant' ? 'The policy no longer configures this resource' : 'The policy no longer configures this resource: remove the access by hand';
  }
  if (source === 'no_account') return 'The request names no account to grant to';
  // Each provider's definition says how people name its target; a type Latch no longer has cannot.
  const target = providerDefinition(source.provider)?.targetName ?? 'The target system';
  return source.kind === 'permanent' ? `${target} refused the ${operation}` : `${target} could not complete the ${operation}`;
}
