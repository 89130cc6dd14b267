/**
 * A transaction's first statement, sent in the same round trip as its BEGIN (inSqlTransaction,
 * transaction.ts): `BEGIN; <statement>` as one simple-protocol query. Issue 19: on a quiet 2-vCPU
 * machine each round trip a process sleeps on costs it about 0.4 ms of CPU, and the statement
 * that opens a hot path's transaction (a lock) needs nothing from the one before it.
 *
 * The simple protocol takes no parameters, so the values are written into the text: integers, each
 * checked here, and text only as its UTF-8 bytes in hex (HexEncodedText), checked here to be hex
 * digits and nothing else, so no quote, backslash or keyword of it can reach the SQL whatever it
 * holds. A plain string is refused. A key made from text is hashed to an integer first
 * (postgres-hashtext.ts).
 */
export interface OpeningStatement {
  /** SQL with `$1`… placeholders for `values`, e.g. `SELECT pg_advisory_xact_lock($1::int, $2::int)`. */
  text: string;
  /**
   * Safe integers (Number.isSafeInteger), written into the text as decimal literals; and text
   * wrapped by hexEncoded, written as `convert_from(decode('<hex>', 'hex'), 'UTF8')` (type text).
   */
  values: readonly (number | HexEncodedText)[];
}

/** Text for an opening statement, made by hexEncoded: only its bytes' hex digits reach the SQL. */
export interface HexEncodedText {
  readonly hex: string;
}

/** `text` as its UTF-8 bytes in hex, for an opening statement's values. */
export function hexEncoded(text: string): HexEncodedText {
  return { hex: Buffer.from(text, 'utf8').toString('hex') };
}

const HEX_DIGITS = /^(?:[0-9a-f]{2})*$/;

/**
 * `first; second` as one opening: `second`'s placeholders renumbered after `first`'s values. Each
 * statement runs after the one before has finished (a lock first, then a read under it); the work
 * gets the rows of the last.
 */
export function followedBy(first: OpeningStatement, second: OpeningStatement): OpeningStatement {
  const offset = first.values.length;
  return { text: `${first.text}; ${second.text.replace(/\$(\d+)/g, (_placeholder, digits: string) => `$${Number(digits) + offset}`)}`, values: [...first.values, ...second.values] };
}

/**
 * The statement with its values written in. Throws, before anything is sent, on a value that is
 * not a safe integer or a placeholder without its value: a programming error, not bad input.
 */
export function renderOpeningStatement(opening: OpeningStatement): string {
  for (const [index, value] of opening.values.entries()) {
    if (isHexEncodedText(value)) {
      if (!HEX_DIGITS.test(value.hex)) throw new Error(`an opening statement's text is written as hex digits only: value $${index + 1} is not`);
      continue;
    }
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new Error(`an opening statement takes integers and hex-encoded text only: value $${index + 1} is neither`);
  }
  return opening.text.replace(/\$(\d+)/g, (_placeholder, digits: string) => {
    const value = opening.values[Number(digits) - 1];
    if (value === undefined) throw new Error(`an opening statement has no value for $${digits}`);
    if (isHexEncodedText(value)) return `convert_from(decode('${value.hex}', 'hex'), 'UTF8')`;
    // Parenthesised when negative: `-2147483648::int` would cast 2147483648 first, out of int4.
    return value < 0 ? `(${value})` : String(value);
  });
}

function isHexEncodedText(value: unknown): value is HexEncodedText {
  return typeof value === 'object' && value !== null && Object.keys(value).length === 1 && typeof (value as { hex?: unknown }).hex === 'string';
}
