import { appendAuditEvent } from '../store/audit-log.ts';
import { findMachineToken, revokeMachineToken as revokeRow } from '../store/machine-tokens.ts';
import { inTransaction } from '../store/transaction.ts';
import type { TokenContext } from './create-machine-token.ts';
import { refuse, type Refused } from './refusal.ts';
import { isRequestId } from './request-id.ts';

export type RevokeMachineTokenResult = { ok: true; tokenId: string; machineId: string } | Refused;

/** Revokes a machine's API token at once, with its `token.revoked` audit event in the same transaction. */
export async function revokeMachineToken(ctx: TokenContext, input: { tokenId: string; actor: string }): Promise<RevokeMachineTokenResult> {
  // Token ids are UUIDs, as request ids are: anything else names no token.
  if (!isRequestId(input.tokenId)) return refuse('not_found', `There is no token ${input.tokenId}: \`latch token list\` shows the ids.`);
  const now = ctx.clock.now();
  return inTransaction(ctx.db, async (tx): Promise<RevokeMachineTokenResult> => {
    const revoked = await revokeRow(tx, input.tokenId, now);
    if (!revoked) {
      const existing = await findMachineToken(tx, input.tokenId);
      return existing
        ? refuse('already_ended', `The token ${input.tokenId} was already revoked at ${existing.revokedAt!.toISOString()}.`)
        : refuse('not_found', `There is no token ${input.tokenId}: \`latch token list\` shows the ids.`);
    }
    await appendAuditEvent(tx, { actor: input.actor, action: 'token.revoked', at: now, data: { tokenId: revoked.id, machineId: revoked.machineId } });
    return { ok: true, tokenId: revoked.id, machineId: revoked.machineId };
  });
}
