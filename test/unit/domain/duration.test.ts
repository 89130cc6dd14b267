import { describe, expect, it } from 'vitest';
import { formatDuration, MINIMUM_DURATION_SECONDS, parseDuration } from '../../../src/domain/duration.ts';

describe('parseDuration', () => {
  it.each([
    ['30m', 1800],
    ['2h', 7200],
    ['1d', 86_400],
    ['1h30m', 5400],
    ['2 hours', 7200],
    [' 45 min ', 2700],
    ['1.5h', 5400],
  ])('reads %j as %i seconds', (text, seconds) => {
    expect(parseDuration(text)).toEqual({ ok: true, seconds });
  });

  it.each([
    ['', 'Enter a duration, such as 30m, 2h or 1d.'],
    ['90', '"90" has no unit: write 90m for minutes or 90h for hours.'],
    ['soon', '"soon" is not a duration: use forms like 30m, 2h, 1d or 1h30m.'],
    ['30s', 'A duration must be at least one minute.'],
    ['-2h', 'A duration must be at least one minute.'],
  ])('refuses %j with a message for a person', (text, message) => {
    expect(parseDuration(text)).toEqual({ ok: false, message });
  });

  it('reads seconds only under the lower minimum a test gives, and refuses what is below that', () => {
    expect(MINIMUM_DURATION_SECONDS).toBe(60);
    expect(parseDuration('3s', 1)).toEqual({ ok: true, seconds: 3 });
    expect(parseDuration('3s')).toEqual({ ok: false, message: 'A duration must be at least one minute.' });
    expect(parseDuration('0s', 1)).toEqual({ ok: false, message: 'A duration must be at least 1s.' });
    expect(parseDuration('-3s', 1)).toEqual({ ok: false, message: 'A duration must be at least 1s.' });
  });
});

describe('formatDuration', () => {
  it.each([
    [1800, '30m'],
    [7200, '2h'],
    [5400, '1h 30m'],
    [86_400 + 4 * 3600, '1d 4h'],
    [45, '45s'],
  ])('writes %i seconds as %j', (seconds, text) => {
    expect(formatDuration(seconds)).toBe(text);
  });
});
