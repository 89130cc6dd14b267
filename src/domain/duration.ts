import parse from 'parse-duration';

/**
 * Durations as people type them (`30m`, `2h`, `1d`, `1h30m`, `2 hours`), parsed by parse-duration,
 * held as whole seconds. A bare number is refused: `90` could mean minutes to one person and
 * seconds to another, and access granted for the wrong one is a security problem.
 */

export type DurationResult = { ok: true; seconds: number } | { ok: false; message: string };

const MINUTE = 60;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * The shortest access anyone may ask for, and the shortest duration a policy may name. Only tests
 * ask for less (ServiceContext.minimumDurationSeconds), so they need not wait out real minutes;
 * nothing a deployment configures reaches that setting.
 */
export const MINIMUM_DURATION_SECONDS = MINUTE;

export function parseDuration(text: string, minimumSeconds = MINIMUM_DURATION_SECONDS): DurationResult {
  const input = text.trim();
  if (input === '') return { ok: false, message: 'Enter a duration, such as 30m, 2h or 1d.' };
  if (/^[\d.\s]+$/.test(input)) {
    return { ok: false, message: `"${input}" has no unit: write ${input}m for minutes or ${input}h for hours.` };
  }
  const milliseconds = parse(input);
  if (milliseconds === null || milliseconds === undefined || !Number.isFinite(milliseconds)) {
    return { ok: false, message: `"${input}" is not a duration: use forms like 30m, 2h, 1d or 1h30m.` };
  }
  const seconds = Math.round(milliseconds / 1000);
  if (seconds < minimumSeconds) return { ok: false, message: `A duration must be at least ${minimumSeconds === MINUTE ? 'one minute' : formatDuration(minimumSeconds)}.` };
  return { ok: true, seconds };
}

/** Whole seconds as people read them: `2h`, `1d 4h`, `1h 30m`. */
export function formatDuration(totalSeconds: number): string {
  const seconds = Math.max(0, Math.round(totalSeconds));
  const parts: string[] = [];
  const days = Math.floor(seconds / DAY);
  const hours = Math.floor((seconds % DAY) / HOUR);
  const minutes = Math.floor((seconds % HOUR) / MINUTE);
  if (days) parts.push(`${days}d`);
  if (hours) parts.push(`${hours}h`);
  if (minutes) parts.push(`${minutes}m`);
  if (parts.length === 0) parts.push(`${seconds % MINUTE}s`);
  return parts.join(' ');
}
