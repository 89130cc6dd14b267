import type { Database } from './database.ts';
import type { Transaction } from './transaction.ts';

/** A machine token's row as Latch reads it: never the secret, only its hash. */
export interface MachineTokenRow {
  id: string;
  machineId: string;
  secretHash: string;
  createdAt: Date;
  expiresAt: Date;
  revokedAt: Date | null;
  /** `operator` (`latch token create`) or `oidc` (exchanged for a workload's OIDC token). */
  source: MachineTokenSource;
  /** The OIDC token's `sub`, for an exchanged token. */
  oidcSubject: string | null;
}

export type MachineTokenSource = 'operator' | 'oidc';

export function insertMachineToken(tx: Transaction, row: { id: string; machineId: string; secretHash: string; createdAt: Date; expiresAt: Date; source?: MachineTokenSource; oidcSubject?: string }): Promise<MachineTokenRow> {
  return tx.machineToken.create({ data: row });
}

export function findMachineToken(db: Database | Transaction, id: string): Promise<MachineTokenRow | null> {
  return db.machineToken.findUnique({ where: { id } });
}

/** Every token, newest first, optionally of one machine. */
export function listMachineTokens(db: Database, machineId?: string): Promise<MachineTokenRow[]> {
  return db.machineToken.findMany({ where: machineId ? { machineId } : {}, orderBy: { createdAt: 'desc' } });
}

/** Revokes a token not revoked yet; the row as revoked, or null when there was none to revoke. */
export async function revokeMachineToken(tx: Transaction, id: string, at: Date): Promise<MachineTokenRow | null> {
  const { count } = await tx.machineToken.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: at } });
  return count === 1 ? findMachineToken(tx, id) : null;
}
