import { describe, expect, it } from 'vitest';
import { validateExtension } from '../../../src/domain/extension-rules.ts';

const HOUR = 3600;
const role = { id: 'read', maxDurationSeconds: 4 * HOUR };
const since = new Date('2026-11-24T10:00:00Z');
const held = { since, until: new Date('2026-11-24T12:00:00Z') };

describe('validateExtension', () => {
  it('runs the new time on from the current end', () => {
    expect(validateExtension(role, held, { duration: '1h', reason: 'migration overran' })).toEqual({
      ok: true,
      seconds: HOUR,
      reason: 'migration overran',
      newEnd: new Date('2026-11-24T13:00:00Z'),
    });
  });

  it('allows exactly up to the role maximum counted from the first grant', () => {
    expect(validateExtension(role, held, { duration: '2h', reason: 'x' })).toMatchObject({ ok: true, newEnd: new Date('2026-11-24T14:00:00Z') });
  });

  it.each([
    { label: 'past the maximum', held, duration: '2h1m', error: 'At most 2h more: read may be held for 4h in all.' },
    { label: 'already at the maximum', held: { since, until: new Date('2026-11-24T14:00:00Z') }, duration: '1m', error: 'This access already runs for the longest read allows (4h); request it again later.' },
    { label: 'not a duration', held, duration: 'soon', error: '"soon" is not a duration: use forms like 30m, 2h, 1d or 1h30m.' },
    { label: 'without a unit', held, duration: '30', error: '"30" has no unit: write 30m for minutes or 30h for hours.' },
  ])('refuses more time $label, saying why on the duration', ({ held: access, duration, error }) => {
    expect(validateExtension(role, access, { duration, reason: 'x' })).toEqual({ ok: false, errors: { duration: error } });
  });

  it('asks for a minute more at least, unless a test lowers the minimum', () => {
    expect(validateExtension(role, held, { duration: '30s', reason: 'x' })).toEqual({ ok: false, errors: { duration: 'A duration must be at least one minute.' } });
    expect(validateExtension(role, held, { duration: '3s', reason: 'x' }, 1)).toMatchObject({ ok: true, seconds: 3, newEnd: new Date('2026-11-24T12:00:03Z') });
  });

  it('needs a reason, and reports every problem at once', () => {
    expect(validateExtension(role, held, { duration: '', reason: '   ' })).toEqual({
      ok: false,
      errors: { duration: 'Enter a duration, such as 30m, 2h or 1d.', reason: 'Say why you need more time.' },
    });
  });
});
