import { formatToken, newTokenSecret } from '../domain/api-token.ts';
import { findMachine } from '../domain/machine.ts';
import { appendAuditEvent } from '../store/audit-log.ts';
import { insertMachineToken } from '../store/machine-tokens.ts';
import { inTransaction } from '../store/transaction.ts';
import { uuidV7 } from '../store/uuid-v7.ts';
import { refuse, type Refused } from './refusal.ts';
import type { ServiceContext } from './service-context.ts';

export type TokenContext = Pick<ServiceContext, 'db' | 'policy' | 'clock'>;

export type CreateMachineTokenResult = { ok: true; tokenId: string; token: string; expiresAt: Date } | Refused;

/**
 * Issues an API token for a machine of the policy in force. Only the hash of its secret is stored,
 * with its `token.created` audit event in the same transaction; the token's text is returned once,
 * to be printed, and cannot be read back later.
 */
export async function createMachineToken(ctx: TokenContext, input: { machineId: string; expiresInSeconds: number; actor: string }): Promise<CreateMachineTokenResult> {
  const policy = ctx.policy();
  const machine = findMachine(policy.machines, input.machineId);
  if (!machine) {
    const known = policy.machines.length > 0 ? `its machines are ${policy.machines.map((m) => m.id).join(', ')}` : 'it has no machines section';
    return refuse('not_found', `The policy has no machine "${input.machineId}": ${known}.`);
  }
  if (machine.authentication.type !== 'token') return refuse('not_allowed', `The machine "${machine.id}" does not authenticate with tokens.`);
  const now = ctx.clock.now();
  const expiresAt = new Date(now.getTime() + input.expiresInSeconds * 1000);
  const { secret, secretHash } = newTokenSecret();
  const id = uuidV7(now.getTime());
  await inTransaction(ctx.db, async (tx) => {
    await insertMachineToken(tx, { id, machineId: machine.id, secretHash, createdAt: now, expiresAt });
    await appendAuditEvent(tx, { actor: input.actor, action: 'token.created', at: now, data: { tokenId: id, machineId: machine.id, expiresAt: expiresAt.toISOString() } });
  });
  return { ok: true, tokenId: id, token: formatToken(id, secret), expiresAt };
}
