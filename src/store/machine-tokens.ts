import type { VerifiedWorkload } from '../domain/oidc-claims.ts';
import type { Database } from './database.ts';
import type { Prisma } from './generated/client.ts';
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
  /** What the OIDC token said, for an exchanged token: the machine's rules must still accept it at every call. */
  oidcWorkload: VerifiedWorkload | null;
}

export type MachineTokenSource = 'operator' | 'oidc';

type StoredRow = Omit<MachineTokenRow, 'oidcWorkload'> & { oidcWorkload: Prisma.JsonValue };

export async function insertMachineToken(
  tx: Transaction,
  row: { id: string; machineId: string; secretHash: string; createdAt: Date; expiresAt: Date; source?: MachineTokenSource; oidcSubject?: string; oidcWorkload?: VerifiedWorkload },
): Promise<MachineTokenRow> {
  const { oidcWorkload, ...rest } = row;
  return rowOf(await tx.machineToken.create({ data: { ...rest, ...(oidcWorkload ? { oidcWorkload: oidcWorkload as unknown as Prisma.InputJsonValue } : {}) } }));
}

export async function findMachineToken(db: Database | Transaction, id: string): Promise<MachineTokenRow | null> {
  const row = await db.machineToken.findUnique({ where: { id } });
  return row ? rowOf(row) : null;
}

/** Every token, newest first, optionally of one machine. */
export async function listMachineTokens(db: Database, machineId?: string): Promise<MachineTokenRow[]> {
  return (await db.machineToken.findMany({ where: machineId ? { machineId } : {}, orderBy: { createdAt: 'desc' } })).map(rowOf);
}

/** Written only by insertMachineToken, from a verified token: read back as it was written. */
function rowOf(row: StoredRow): MachineTokenRow {
  return { ...row, oidcWorkload: row.oidcWorkload === null ? null : (row.oidcWorkload as unknown as VerifiedWorkload) };
}

/** Revokes a token not revoked yet; the row as revoked, or null when there was none to revoke. */
export async function revokeMachineToken(tx: Transaction, id: string, at: Date): Promise<MachineTokenRow | null> {
  const { count } = await tx.machineToken.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: at } });
  return count === 1 ? findMachineToken(tx, id) : null;
}
