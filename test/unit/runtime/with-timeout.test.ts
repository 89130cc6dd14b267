import { describe, expect, it } from 'vitest';
import { withTimeout } from '../../../src/runtime/with-timeout.ts';

const never = new Promise<string>(() => {});

describe('withTimeout', () => {
  it('gives the work’s result when it settles in time', async () => {
    expect(await withTimeout(Promise.resolve('done'), 1_000, () => 'late')).toBe('done');
    await expect(withTimeout(Promise.reject(new Error('broke')), 1_000, () => 'late')).rejects.toThrow('broke');
  });

  it('gives what onTimeout returns, or rejects with what it throws, when the work does not settle', async () => {
    expect(await withTimeout(never, 10, () => 'late')).toBe('late');
    await expect(withTimeout(never, 10, () => { throw new Error('too slow'); })).rejects.toThrow('too slow');
  });
});
