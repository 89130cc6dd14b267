/**
 * Writes the text an event of hash format 2 hashes (src/domain/audit-hash.ts,
 * latch_audit_hash_input_v2 in migration 20261203210000) as UTF-8 bytes, straight from the bytes
 * of the stored columns as PostgreSQL sends them in a binary COPY: no string is made for an
 * event's data, actor or action, and the data's bytes are jsonb's own output, copied as they are.
 *
 * The rendering is the database function's, piece by piece: `seq::text`; the time as to_char's
 * `YYYY-MM-DD"T"HH24:MI:SS.MS"Z"` in UTC (computed here for years 1 to 9999, taken from the
 * database otherwise); to_json of each text, which escapes exactly as JSON.stringify does (`"`,
 * `\`, \b \f \n \r \t and other control characters as \u00xx; nothing else), so text with none of
 * those is written between quotes as it is; the request id in uuid's text form or null; the data
 * as jsonb prints it.
 */
export class AuditHashInputWriter {
  private out = Buffer.allocUnsafe(4096);
  private at = 0;
  /** The last day written and its `YYYY-MM-DD` (events come in time order: mostly the same day). */
  private day = Number.NaN;
  private readonly dayText = Buffer.alloc(10);

  /** The bytes written since the last `start()`; valid until the next `start()`. */
  get bytes(): Buffer {
    return this.out.subarray(0, this.at);
  }

  /** Begins an event whose variable parts take at most `variableBytes` before escaping. */
  start(variableBytes: number): void {
    // Escaping writes at most six bytes for one (\u00xx); the fixed parts stay under 200.
    const needed = 200 + variableBytes * 6;
    if (this.out.length < needed) this.out = Buffer.allocUnsafe(Math.max(needed, this.out.length * 2));
    this.at = 0;
  }

  /** A constant piece (see `piece`). */
  constant(piece: Uint8Array): void {
    for (let i = 0; i < piece.length; i++) this.out[this.at++] = piece[i]!;
  }

  text(text: string): void {
    this.at += this.out.write(text, this.at, 'utf8');
  }

  /** A non-negative integer below 2^53, in decimal. */
  decimal(value: number): void {
    let digits = 1;
    for (let rest = Math.floor(value / 10); rest > 0; rest = Math.floor(rest / 10)) digits += 1;
    this.padded(value, digits);
  }

  /** `value` in exactly `width` digits, zero-padded (value below 10^width). */
  padded(value: number, width: number): void {
    for (let i = width - 1; i >= 0; i--) {
      this.out[this.at + i] = 0x30 + (value % 10);
      value = Math.floor(value / 10);
    }
    this.at += width;
  }

  /** Bytes copied as they are. */
  raw(source: Buffer, start: number, end: number): void {
    // A loop beats a native call for the short ones (actor, action, hashes).
    if (end - start > 96) {
      this.at += source.copy(this.out, this.at, start, end);
      return;
    }
    for (let i = start; i < end; i++) this.out[this.at++] = source[i]!;
  }

  /** UTF-8 text as a JSON string, as PostgreSQL's to_json writes it. */
  jsonString(source: Buffer, start: number, end: number): void {
    const { out } = this;
    let at = this.at;
    out[at++] = 0x22;
    for (let i = start; i < end; i++) {
      const byte = source[i]!;
      if (byte < 0x20 || byte === 0x22 || byte === 0x5c) {
        // Rare: text that needs escaping is escaped by the rule to_json shares with JSON.stringify.
        this.at += out.write(JSON.stringify(source.toString('utf8', start, end)), this.at, 'utf8');
        return;
      }
      out[at++] = byte;
    }
    out[at++] = 0x22;
    this.at = at;
  }

  /** A uuid's 16 bytes as uuid_out writes them (lowercase, 8-4-4-4-12), quoted. */
  jsonUuid(source: Buffer, start: number): void {
    this.out[this.at++] = 0x22;
    for (let i = 0; i < 16; i++) {
      if (i === 4 || i === 6 || i === 8 || i === 10) this.out[this.at++] = 0x2d;
      const byte = source[start + i]!;
      this.out[this.at++] = HEX[byte >> 4]!;
      this.out[this.at++] = HEX[byte & 15]!;
    }
    this.out[this.at++] = 0x22;
  }

  /**
   * A time given in milliseconds since 1970 (UTC) as to_char(…, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
   * writes it. False, with nothing written, outside years 1 to 9999 (to_char writes BC years
   * and five-digit years its own way: the caller takes the database's rendering).
   */
  isoMillis(ms: number): boolean {
    const days = Math.floor(ms / DAY_MS);
    if (days !== this.day && !this.writeDayText(days)) return false;
    for (let i = 0; i < 10; i++) this.out[this.at++] = this.dayText[i]!;
    const ofDay = ms - days * DAY_MS;
    this.out[this.at++] = 0x54;
    this.padded(Math.floor(ofDay / 3_600_000), 2);
    this.out[this.at++] = 0x3a;
    this.padded(Math.floor(ofDay / 60_000) % 60, 2);
    this.out[this.at++] = 0x3a;
    this.padded(Math.floor(ofDay / 1000) % 60, 2);
    this.out[this.at++] = 0x2e;
    this.padded(ofDay % 1000, 3);
    this.out[this.at++] = 0x5a;
    return true;
  }

  /** `YYYY-MM-DD` of a day counted from 1970-01-01, kept in dayText; false outside years 1 to 9999. */
  private writeDayText(days: number): boolean {
    // Howard Hinnant's civil_from_days: the proleptic Gregorian calendar, as PostgreSQL's.
    const z = days + 719_468;
    const era = Math.floor(z / 146_097);
    const dayOfEra = z - era * 146_097;
    const yearOfEra = Math.floor((dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365);
    const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
    const shiftedMonth = Math.floor((5 * dayOfYear + 2) / 153);
    const day = dayOfYear - Math.floor((153 * shiftedMonth + 2) / 5) + 1;
    const month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9;
    const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
    if (!(year >= 1 && year <= 9999)) return false;
    this.dayText.write(`${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`, 'latin1');
    this.day = days;
    return true;
  }
}

/** A constant piece of the rendering, as bytes. */
export const piece = (text: string): Uint8Array => Buffer.from(text, 'latin1');

const DAY_MS = 86_400_000;
const HEX = Buffer.from('0123456789abcdef', 'latin1');
