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
});
