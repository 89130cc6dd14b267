import { describe, expect, it } from 'vitest';
import { digestPeriod, digestPeriodSoFar } from '../../../src/domain/digest-period.ts';

describe('digestPeriod', () => {
  it.each([
    {
      label: 'daily at 09:00 in Berlin, run on time: the day before',
      schedule: '0 9 * * *', zone: 'Europe/Berlin', now: '2026-11-24T08:00:00.000Z',
      since: '2026-11-23T08:00:00.000Z', until: '2026-11-24T08:00:00.000Z',
    },
    {
      label: 'daily, run a few minutes late: still that day',
      schedule: '0 9 * * *', zone: 'Europe/Berlin', now: '2026-11-24T08:04:00.000Z',
      since: '2026-11-23T08:00:00.000Z', until: '2026-11-24T08:00:00.000Z',
    },
    {
      label: 'daily, sent by hand in the afternoon: the last complete day',
      schedule: '0 9 * * *', zone: 'Europe/Berlin', now: '2026-11-24T15:00:00.000Z',
      since: '2026-11-23T08:00:00.000Z', until: '2026-11-24T08:00:00.000Z',
    },
    {
      label: 'weekly on Mondays at 08:00 UTC: the week before',
      schedule: '0 8 * * 1', zone: 'UTC', now: '2026-11-23T08:00:00.000Z',
      since: '2026-11-16T08:00:00.000Z', until: '2026-11-23T08:00:00.000Z',
    },
    {
      label: 'across the change to summer time in Berlin: 23 hours',
      schedule: '0 9 * * *', zone: 'Europe/Berlin', now: '2026-03-29T07:00:00.000Z',
      since: '2026-03-28T08:00:00.000Z', until: '2026-03-29T07:00:00.000Z',
    },
  ])('$label', ({ schedule, zone, now, since, until }) => {
    const period = digestPeriod(schedule, zone, new Date(now));
    expect({ since: period.since.toISOString(), until: period.until.toISOString() }).toEqual({ since, until });
  });
});

describe('digestPeriodSoFar', () => {
  it.each([
    {
      label: 'every five minutes, sent by hand at 10:13: since 10:10, what was just done included',
      schedule: '*/5 * * * *', zone: 'UTC', now: '2026-12-04T10:13:20.000Z',
      since: '2026-12-04T10:10:00.000Z', until: '2026-12-04T10:13:20.000Z',
    },
    {
      label: 'daily at 09:00 in Berlin, sent in the afternoon: since this morning’s run',
      schedule: '0 9 * * *', zone: 'Europe/Berlin', now: '2026-11-24T15:00:00.000Z',
      since: '2026-11-24T08:00:00.000Z', until: '2026-11-24T15:00:00.000Z',
    },
    {
      label: 'sent exactly as a run fires: that run starts the period, which is empty',
      schedule: '*/5 * * * *', zone: 'UTC', now: '2026-12-04T10:15:00.000Z',
      since: '2026-12-04T10:15:00.000Z', until: '2026-12-04T10:15:00.000Z',
    },
  ])('$label', ({ schedule, zone, now, since, until }) => {
    const period = digestPeriodSoFar(schedule, zone, new Date(now));
    expect({ since: period.since.toISOString(), until: period.until.toISOString() }).toEqual({ since, until });
  });
});
