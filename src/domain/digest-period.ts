import { CronExpressionParser } from 'cron-parser';

/**
 * The period a digest covers: from the schedule's run before the latest one up to the latest run
 * at or before `now`. Run on schedule, that is the time since the previous digest, so nothing falls
 * between two digests and nothing is counted twice; sent by hand, it is the last complete period.
 */
export function digestPeriod(schedule: string, timeZone: string, now: Date): { since: Date; until: Date } {
  // A millisecond on, so a run that fires exactly on time counts as the latest one.
  const runs = CronExpressionParser.parse(schedule, { tz: timeZone, currentDate: new Date(now.getTime() + 1) });
  const until = runs.prev().toDate();
  const since = runs.prev().toDate();
  return { since, until };
}

/**
 * The period running now: from the schedule's latest run at or before `now` up to `now`. What a
 * person sending a digest by hand usually wants to see is what just happened, which the last
 * complete period (digestPeriod) leaves out until the next run.
 */
export function digestPeriodSoFar(schedule: string, timeZone: string, now: Date): { since: Date; until: Date } {
  return { since: digestPeriod(schedule, timeZone, now).until, until: now };
}
