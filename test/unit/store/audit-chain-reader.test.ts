import { describe, expect, it } from 'vitest';
import { auditHashInputV2, GENESIS_HASH, type AuditContent } from '../../../src/domain/audit-hash.ts';
import { CopyBinaryParser, type AuditChainBatch } from '../../../src/store/audit-chain-reader.ts';
import { AuditHashInputWriter } from '../../../src/store/audit-hash-input-writer.ts';

/**
 * A binary COPY stream of audit events as PostgreSQL sends the verifier's query (PostgreSQL's
 * documented format: signature, flags, header extension, then per row a column count and each
 * column's length and bytes, -1 for NULL; a -1 count ends it). The real server's stream is
 * covered by the integration tests of verifyAuditChain.
 */
function copyStream(events: Array<AuditContent & { hash: string; hashFormat: number; atText?: string | null }>): Buffer {
  const parts: Buffer[] = [Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), int32(0), int32(0)];
  for (const event of events) {
    const micros = BigInt(event.at.getTime()) * 1000n - 946_684_800_000_000n;
    const columns: Array<Buffer | null> = [
      int64(event.seq),
      int16(event.hashFormat),
      Buffer.from(event.prevHash),
      Buffer.from(event.hash),
      int64(micros),
      Buffer.from(event.actor),
      Buffer.from(event.action),
      event.requestId === null ? null : Buffer.from(event.requestId.replaceAll('-', ''), 'hex'),
      Buffer.from(JSON.stringify(event.data)),
      event.atText ? Buffer.from(event.atText) : null,
    ];
    parts.push(int16(columns.length));
    for (const column of columns) parts.push(column === null ? int32(-1) : Buffer.concat([int32(column.length), column]));
  }
  parts.push(int16(-1));
  return Buffer.concat(parts);
}

const int16 = (value: number) => {
  const buffer = Buffer.alloc(2);
  buffer.writeInt16BE(value);
  return buffer;
};
const int32 = (value: number) => {
  const buffer = Buffer.alloc(4);
  buffer.writeInt32BE(value);
  return buffer;
};
const int64 = (value: bigint) => {
  const buffer = Buffer.alloc(8);
  buffer.writeBigInt64BE(value);
  return buffer;
};

// Data whose jsonb text is what JSON.stringify writes (no key or second element to put a space before).
const events = [
  { seq: 1n, at: new Date('2026-11-24T10:00:00.007Z'), actor: 'U1', action: 'request.created', requestId: '0190f0e2-0000-7000-8000-00000000abcd', data: {}, prevHash: GENESIS_HASH },
  { seq: 2n, at: new Date('2024-02-29T23:59:59.999Z'), actor: 'U"1\nx\\', action: 'approval.recorded', requestId: null, data: 'a string', prevHash: 'a'.repeat(64) },
  { seq: 3n, at: new Date('1969-12-31T23:59:59.999Z'), actor: 'policy:low-risk é 😀', action: 'x\u0001y', requestId: null, data: null, prevHash: 'b'.repeat(64) },
  { seq: 4n, at: new Date('1999-12-31T23:59:59.999Z'), actor: 'only a back\\slash', action: 'grant.granted', requestId: null, data: [1], prevHash: 'c'.repeat(64) },
  { seq: 5n, at: new Date('0001-01-01T00:00:00.000Z'), actor: 'latch', action: 'grant.revoked', requestId: null, data: {}, prevHash: 'd'.repeat(64) },
  { seq: 9_007_199_254_740_993n, at: new Date('9999-12-31T23:59:59.999Z'), actor: 'latch', action: 'grant.revoked', requestId: null, data: {}, prevHash: 'e'.repeat(64) },
].map((event, i) => ({ ...event, hash: `${i}`.repeat(64), hashFormat: 2 }));

function rowsOf(batch: AuditChainBatch, writer: AuditHashInputWriter) {
  return Array.from({ length: batch.length }, (_, row) => ({
    link: batch.link(row),
    format: batch.hashFormat(row),
    input: batch.writeHashInputV2(row, writer) ? writer.bytes.toString('utf8') : null,
  }));
}

describe('CopyBinaryParser and AuditHashInputWriter', () => {
  it('write, from the stored columns, exactly the text format 2 hashes, however the stream is cut', () => {
    const stream = copyStream(events);
    const expected = events.map((event) => ({ link: { seq: event.seq, prevHash: event.prevHash, hash: event.hash }, format: 2, input: auditHashInputV2(event) }));
    for (const size of [1, 2, 3, 7, 41, 64, 100, stream.length]) {
      const parser = new CopyBinaryParser();
      const writer = new AuditHashInputWriter();
      const rows = [];
      for (let at = 0; at < stream.length; at += size) rows.push(...rowsOf(parser.push(stream.subarray(at, at + size)), writer));
      parser.end();
      expect(rows).toEqual(expected);
    }
  });

  it('takes the database’s rendering of a time outside years 1 to 9999, and has no text for ±infinity', () => {
    const far = { ...events[0]!, at: new Date('+012000-01-01T00:00:00.000Z'), atText: '12000-01-01T00:00:00.000Z' };
    const infinite = { ...events[0]!, atText: null };
    const stream = copyStream([far, infinite]);
    // -infinity is the smallest int64: overwrite the second event's time with it.
    const at = stream.lastIndexOf(int64(BigInt(infinite.at.getTime()) * 1000n - 946_684_800_000_000n));
    stream.writeBigInt64BE(-(2n ** 63n), at);
    const parser = new CopyBinaryParser();
    const rows = rowsOf(parser.push(stream), new AuditHashInputWriter());
    parser.end();
    expect(rows.map((row) => row.input)).toEqual([expect.stringContaining('"12000-01-01T00:00:00.000Z"'), null]);
  });

  it('refuses a stream that is not a whole binary COPY', () => {
    const stream = copyStream(events);
    const cut = new CopyBinaryParser();
    cut.push(stream.subarray(0, stream.length - 1));
    expect(() => cut.end()).toThrow(/ended before its trailer/);
    expect(() => new CopyBinaryParser().push(Buffer.from('not a COPY stream at all'))).toThrow(/signature/);
    const wrongColumns = Buffer.from(stream);
    wrongColumns.writeInt16BE(3, 19);
    expect(() => new CopyBinaryParser().push(wrongColumns)).toThrow(/3 columns, not 10/);
  });
});
