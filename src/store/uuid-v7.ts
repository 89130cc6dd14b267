import { randomBytes } from 'node:crypto';

let lastMs = -1;
let sequence = 0;

/**
 * A UUIDv7 (RFC 9562): the Unix time in milliseconds, then random bits, as Prisma's `uuid(7)`
 * default makes them, for rows the store inserts in plain SQL (the tables have no default of their
 * own). Within one millisecond the 12 bits after the time count up from a random start, so the
 * ids one process makes stay in creation order.
 */
export function uuidV7(now = Date.now()): string {
  const random = randomBytes(10);
  if (now > lastMs) {
    lastMs = now;
    sequence = random.readUInt16BE(0) & 0x7ff;
  } else {
    // The clock went back or stood still: keep counting on from the last id's time.
    sequence += 1;
    if (sequence > 0xfff) {
      lastMs += 1;
      sequence = 0;
    }
  }
  const bytes = Buffer.alloc(16);
  bytes.writeUIntBE(lastMs, 0, 6);
  bytes.writeUInt16BE(0x7000 | sequence, 6);
  random.copy(bytes, 8, 2, 10);
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
