/**
 * PostgreSQL's `hashtext(text)` computed in JavaScript: the same int4 for the same text (its UTF-8
 * bytes, as a database in UTF-8 with a deterministic collation hashes them; hash_bytes in
 * PostgreSQL's src/common/hashfn.c, Bob Jenkins' lookup3, as little-endian machines run it).
 *
 * Why: an advisory lock keyed by an integer Latch computes can be taken in the same round trip as
 * BEGIN (transaction.ts, an opening statement renders integers only), while a lock keyed by
 * `hashtext($2)` needs the text as a parameter, so a statement of its own. Computing the very key
 * hashtext gives keeps processes that still lock with hashtext (a rolling deploy) taking turns with
 * these. test/integration/store/postgres-hashtext.test.ts checks it against PostgreSQL.
 */
export function postgresHashtext(text: string): number {
  const key = Buffer.from(text, 'utf8');
  let length = key.length;
  let a = (0x9e3779b9 + length + 3923095) >>> 0;
  let b = a;
  let c = a;
  let at = 0;
  while (length >= 12) {
    a = (a + word(key, at)) >>> 0;
    b = (b + word(key, at + 4)) >>> 0;
    c = (c + word(key, at + 8)) >>> 0;
    // mix(a, b, c)
    a = (a - c) >>> 0; a = (a ^ rotate(c, 4)) >>> 0; c = (c + b) >>> 0;
    b = (b - a) >>> 0; b = (b ^ rotate(a, 6)) >>> 0; a = (a + c) >>> 0;
    c = (c - b) >>> 0; c = (c ^ rotate(b, 8)) >>> 0; b = (b + a) >>> 0;
    a = (a - c) >>> 0; a = (a ^ rotate(c, 16)) >>> 0; c = (c + b) >>> 0;
    b = (b - a) >>> 0; b = (b ^ rotate(a, 19)) >>> 0; a = (a + c) >>> 0;
    c = (c - b) >>> 0; c = (c ^ rotate(b, 4)) >>> 0; b = (b + a) >>> 0;
    at += 12;
    length -= 12;
  }
  // The last 11 bytes or fewer, little-endian, as hash_bytes's fall-through switch adds them.
  const byte = (i: number, shift: number) => ((key[at + i]! << shift) >>> 0);
  if (length >= 11) c = (c + byte(10, 24)) >>> 0;
  if (length >= 10) c = (c + byte(9, 16)) >>> 0;
  if (length >= 9) c = (c + byte(8, 8)) >>> 0;
  if (length >= 8) b = (b + byte(7, 24)) >>> 0;
  if (length >= 7) b = (b + byte(6, 16)) >>> 0;
  if (length >= 6) b = (b + byte(5, 8)) >>> 0;
  if (length >= 5) b = (b + byte(4, 0)) >>> 0;
  if (length >= 4) a = (a + byte(3, 24)) >>> 0;
  if (length >= 3) a = (a + byte(2, 16)) >>> 0;
  if (length >= 2) a = (a + byte(1, 8)) >>> 0;
  if (length >= 1) a = (a + byte(0, 0)) >>> 0;
  // final(a, b, c)
  c = (c ^ b) >>> 0; c = (c - rotate(b, 14)) >>> 0;
  a = (a ^ c) >>> 0; a = (a - rotate(c, 11)) >>> 0;
  b = (b ^ a) >>> 0; b = (b - rotate(a, 25)) >>> 0;
  c = (c ^ b) >>> 0; c = (c - rotate(b, 16)) >>> 0;
  a = (a ^ c) >>> 0; a = (a - rotate(c, 4)) >>> 0;
  b = (b ^ a) >>> 0; b = (b - rotate(a, 14)) >>> 0;
  c = (c ^ b) >>> 0; c = (c - rotate(b, 24)) >>> 0;
  // hashtext's uint32 read as PostgreSQL's int4.
  return c | 0;
}

function rotate(value: number, bits: number): number {
  return ((value << bits) | (value >>> (32 - bits))) >>> 0;
}

function word(key: Buffer, at: number): number {
  return (key[at]! | (key[at + 1]! << 8) | (key[at + 2]! << 16) | (key[at + 3]! << 24)) >>> 0;
}
