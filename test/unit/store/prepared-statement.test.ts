import { describe, expect, it } from 'vitest';
import { preparedStatement } from '../../../src/store/prepared-statement.ts';

describe('preparedStatement', () => {
  it('refuses a name already given to another text, when the second is made', () => {
    preparedStatement('unit_test_one', 'SELECT 1');
    expect(() => preparedStatement('unit_test_one', 'SELECT 2')).toThrow('prepared statement unit_test_one is already defined with another text');
  });

  it('gives the same statement again for the same name and text, under a name of its own', () => {
    expect(preparedStatement('unit_test_two', 'SELECT $1::int')).toEqual({ name: 'latch_unit_test_two', text: 'SELECT $1::int' });
    expect(preparedStatement('unit_test_two', 'SELECT $1::int')).toEqual({ name: 'latch_unit_test_two', text: 'SELECT $1::int' });
  });
});
