import type { Database } from './database.ts';
import type { AccessRequest } from './generated/client.ts';
import { accessRequestColumns, MODEL_TYPES } from './table-columns.ts';

const BUNDLE_ITEMS = `SELECT ${accessRequestColumns('r')} FROM access_requests AS r WHERE r.bundle_id = $1::uuid ORDER BY r.bundle_position, r.id`;

/** Every item of a bundle (requests made as one), in the order asked; empty when there is none. */
export async function readBundleItems(db: Database, bundleId: string): Promise<AccessRequest[]> {
  const { rows } = await db.pool.query<AccessRequest>({ text: BUNDLE_ITEMS, values: [bundleId], types: MODEL_TYPES });
  return rows;
}
