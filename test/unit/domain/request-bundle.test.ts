import { describe, expect, it } from 'vitest';
import { bundleRefusal, MAX_BUNDLE_ITEMS, parseItemList, strictestItemIndex } from '../../../src/domain/request-bundle.ts';

describe('a request for several resources', () => {
  it('reads the inline list of resource:role pairs, in order', () => {
    expect(parseItemList('prod-db:read,billing-db:admin')).toEqual({ ok: true, items: [{ resourceId: 'prod-db', role: 'read' }, { resourceId: 'billing-db', role: 'admin' }] });
  });

  it.each(['prod-db:read,', 'prod-db:read,billing-db', 'prod-db::read', ':read', 'a:b:c'])('refuses the malformed list %s, quoting the bad part', (list) => {
    const parsed = parseItemList(list);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.message).toContain('is not a resource:role pair');
  });

  it('refuses an empty list, one over the cap (saying the cap), and a pair asked twice', () => {
    expect(bundleRefusal([])).toContain('at least one');
    const many = Array.from({ length: MAX_BUNDLE_ITEMS + 1 }, (_, i) => ({ resourceId: `r${i}`, role: 'read' }));
    expect(bundleRefusal(many)).toContain(`at most ${MAX_BUNDLE_ITEMS}`);
    expect(bundleRefusal(many.slice(0, MAX_BUNDLE_ITEMS))).toBeNull();
    expect(bundleRefusal([{ resourceId: 'a', role: 'read' }, { resourceId: 'a', role: 'read' }])).toContain('a:read is asked for twice');
    expect(bundleRefusal([{ resourceId: 'a', role: 'read' }, { resourceId: 'a', role: 'write' }])).toBeNull();
  });

  it('puts the card with the item needing the most approvals, the first of them on a tie', () => {
    expect(strictestItemIndex([1, 2, 1])).toBe(1);
    expect(strictestItemIndex([2, 1, 2])).toBe(0);
    expect(strictestItemIndex([1])).toBe(0);
  });
});
