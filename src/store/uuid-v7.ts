import { randomFillSync } from 'node:crypto';

let lastMs = -1;
let sequence = 0;

/**
 * Random bytes from the system's CSPRNG, drawn a pool at a time (as node's own randomUUID does)
 * and each used once: one call into OpenSSL for 256 ids instead of one for each, which a click
 * (an approval and its audit events) otherwise pays three or four times.
 */
const RANDOM_BYTES_PER_ID = 10;
const pool = Buffer.alloc(RANDOM_BYTES_PER_ID * 256);
let poolOffset = pool.length;
/** The id's 16 bytes, built here before they become text (nothing awaits in between). */
const bytes = Buffer.alloc(16);

/**
 * A UUIDv7 (RFC 9562): the Unix time in milliseconds, then random bits, as Prisma's `uuid(7)`
 * default makes them, for rows the store inserts in plain SQL (the tables have no default of their
 * own). Within one millisecond the 12 bits after the time count up from a random start, so the
 * ids one process makes stay in creation order.
 */
export function uuidV7(now = Date.now()): string {
  if (poolOffset + RANDOM_BYTES_PER_ID > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const random = poolOffset;
  poolOffset += RANDOM_BYTES_PER_ID;
  if (now > lastMs) {
    lastMs = now;
    sequence = pool.readUInt16BE(random) & 0x7ff;
  } else {
    // The clock went back or stood still: keep counting on from the last id's time.
    sequence += 1;
    if (sequence > 0xfff) {
      lastMs += 1;
      sequence = 0;
    }
  }
  bytes.writeUIntBE(lastMs, 0, 6);
  bytes.writeUInt16BE(0x7000 | sequence, 6);
  pool.copy(bytes, 8, random + 2, random + RANDOM_BYTES_PER_ID);
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
