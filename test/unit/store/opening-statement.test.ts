import { describe, expect, it } from 'vitest';
import { renderOpeningStatement } from '../../../src/store/opening-statement.ts';

describe('renderOpeningStatement (a statement sent with BEGIN, values written into its text)', () => {
  it('writes each integer in place of its placeholder, negatives parenthesised so a cast applies to the whole number', () => {
    expect(renderOpeningStatement({ text: 'SELECT pg_advisory_xact_lock($1::int, $2::int)', values: [4918, -2147483648] })).toBe('SELECT pg_advisory_xact_lock(4918::int, (-2147483648)::int)');
    expect(renderOpeningStatement({ text: 'SELECT $2, $1, $2, $10', values: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] })).toBe('SELECT 2, 1, 2, 10');
    expect(renderOpeningStatement({ text: 'SELECT 1', values: [] })).toBe('SELECT 1');
  });

  it('refuses anything but a safe integer, so no text can reach the SQL', () => {
    for (const value of ['1; DROP TABLE access_requests', '42', 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, null, 10n] as unknown[]) {
      expect(() => renderOpeningStatement({ text: 'SELECT $1', values: [value as number] }), String(value)).toThrow(/integers only: value \$1/);
    }
  });

  it('refuses a placeholder without its value', () => {
    expect(() => renderOpeningStatement({ text: 'SELECT $1, $2', values: [1] })).toThrow(/no value for \$2/);
  });
});
