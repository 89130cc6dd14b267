import { describe, expect, it } from 'vitest';
import { uuidV7 } from '../../../src/store/uuid-v7.ts';

describe('uuidV7', () => {
  it('is a version 7, RFC 9562 variant UUID carrying the time in milliseconds', () => {
    const at = Date.UTC(2026, 11, 3, 19, 30, 0, 123);
    const id = uuidV7(at);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(parseInt(id.replace(/-/g, '').slice(0, 12), 16)).toBe(at);
  });

  it('keeps the ids one process makes in creation order, within one millisecond and when the clock steps back', () => {
    const at = Date.UTC(2026, 11, 3, 20, 0, 0, 0);
    const ids = [uuidV7(at), ...Array.from({ length: 5000 }, () => uuidV7(at)), uuidV7(at - 1000), uuidV7(at + 1)];
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('gives every id random bits of its own, across many refills of its pool of random bytes', () => {
    // One id a millisecond, so each takes fresh random bits (the sequence's start and the tail).
    const start = Date.UTC(2026, 11, 5, 1, 0, 0, 0);
    const ids = Array.from({ length: 3000 }, (_, i) => uuidV7(start + i));
    const tails = ids.map((id) => id.slice(19));
    expect(new Set(tails).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    // Not a counter: the random tails of consecutive ids share no long run of bytes.
    const sameRuns = tails.slice(1).filter((tail, i) => tail.slice(5, 13) === tails[i]!.slice(5, 13)).length;
    expect(sameRuns).toBe(0);
  });
});
