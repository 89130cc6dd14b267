import { describe, expect, it } from 'vitest';
import { followedBy, hexEncoded, renderOpeningStatement } from '../../../src/store/opening-statement.ts';

describe('renderOpeningStatement (a statement sent with BEGIN, values written into its text)', () => {
  it('writes each integer in place of its placeholder, negatives parenthesised so a cast applies to the whole number', () => {
    expect(renderOpeningStatement({ text: 'SELECT pg_advisory_xact_lock($1::int, $2::int)', values: [4918, -2147483648] })).toBe('SELECT pg_advisory_xact_lock(4918::int, (-2147483648)::int)');
    expect(renderOpeningStatement({ text: 'SELECT $2, $1, $2, $10', values: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] })).toBe('SELECT 2, 1, 2, 10');
    expect(renderOpeningStatement({ text: 'SELECT 1', values: [] })).toBe('SELECT 1');
  });

  it('refuses anything but a safe integer, so no text can reach the SQL', () => {
    for (const value of ['1; DROP TABLE access_requests', '42', 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, null, 10n] as unknown[]) {
      expect(() => renderOpeningStatement({ text: 'SELECT $1', values: [value as number] }), String(value)).toThrow(/integers and hex-encoded text only: value \$1 is neither/);
    }
  });

  it('writes text as its UTF-8 bytes in hex only, so nothing of it is SQL', () => {
    expect(renderOpeningStatement({ text: 'SELECT $1', values: [hexEncoded("a'b")] })).toBe("SELECT convert_from(decode('612762', 'hex'), 'UTF8')");
    for (const text of ["'); DROP TABLE access_requests; --", "\\' $2 $$", 'ż🔒']) {
      const rendered = renderOpeningStatement({ text: 'SELECT $1', values: [hexEncoded(text)] });
      expect(rendered).toMatch(/^SELECT convert_from\(decode\('([0-9a-f]{2})*', 'hex'\), 'UTF8'\)$/);
    }
    // A value posing as hex-encoded text that is not hex digits is refused.
    for (const hex of ["61'; DROP TABLE x; --", '6', 'AB', 'zz']) {
      expect(() => renderOpeningStatement({ text: 'SELECT $1', values: [{ hex }] }), hex).toThrow(/hex digits only: value \$1/);
    }
  });

  it('puts a second statement after the first, its placeholders renumbered after the first\'s values', () => {
    const both = followedBy({ text: 'SELECT lock($1, $2)', values: [1, 2] }, { text: 'SELECT $2, $1, $1', values: [hexEncoded('a'), 3] });
    expect(both.values).toEqual([1, 2, { hex: '61' }, 3]);
    expect(renderOpeningStatement(both)).toBe("SELECT lock(1, 2); SELECT 3, convert_from(decode('61', 'hex'), 'UTF8'), convert_from(decode('61', 'hex'), 'UTF8')");
  });

  it('refuses a placeholder without its value', () => {
    expect(() => renderOpeningStatement({ text: 'SELECT $1, $2', values: [1] })).toThrow(/no value for \$2/);
  });
});
