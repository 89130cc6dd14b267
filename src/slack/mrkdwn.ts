/**
 * Text helpers for Slack's mrkdwn. Everything a person typed (reasons, tickets, comments) passes
 * through `escapeMrkdwn` before it reaches a message, so nobody can slip `<!channel>`, a mention or
 * a disguised link (`<https://evil|bank>`) into an approval message.
 */

/** Slack's own escaping: `&`, `<`, `>` and nothing else. `&` goes first so entities are not doubled. */
export function escapeMrkdwn(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

const ELLIPSIS = '…';

/**
 * `text` cut to at most `max` characters (UTF-16 code units, which is what Slack counts), ending in
 * `…` when something was cut. A surrogate pair is never split, so no broken emoji reaches Slack.
 */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  if (max <= 0) return '';
  let cut = text.slice(0, max - ELLIPSIS.length);
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return cut + ELLIPSIS;
}

/**
 * Escapes `text`, then truncates the result to `max`. Escaping first is what makes the length
 * limit hold (`&` becomes five characters); the cut then backs off any entity it would split, so
 * the reader never sees a stray `&am`.
 */
export function escapeAndTruncate(text: string, max: number): string {
  const escaped = escapeMrkdwn(text);
  if (escaped.length <= max) return escaped;
  const cut = truncate(escaped, max);
  // In escaped text every `&` starts one of our three entities: drop a partial one before the `…`.
  return cut.replace(/&(?:a|am|amp|l|lt|g|gt)?…$/, ELLIPSIS);
}

// Slack user ids: U… or W… followed by capitals and digits.
const SLACK_USER_ID = /^[UW][A-Z0-9]+$/;

/**
 * A mention of one person, built from their Slack id (never a name, which anyone can change). An id
 * that does not look like one is shown escaped rather than trusted inside `<@…>`.
 */
export function mention(userId: string): string {
  return SLACK_USER_ID.test(userId) ? `<@${userId}>` : escapeMrkdwn(userId);
}

const SLACK_GROUP_ID = /^S[A-Z0-9]{2,}$/;

/** ", including one from @security and one from @dbas": the groups an approval is still needed from. */
export function includingOneFrom(groups: readonly string[]): string {
  return groups.length > 0 ? `, including one from ${groups.map(groupMention).join(' and one from ')}` : '';
}

/** A user group as Slack shows it (its @handle), from its id; anything else is escaped text. */
export function groupMention(groupId: string): string {
  return SLACK_GROUP_ID.test(groupId) ? `<!subteam^${groupId}>` : escapeMrkdwn(groupId);
}

/**
 * A time that each reader sees in their own Slack time zone; clients that cannot render it show
 * the UTC fallback.
 */
export function slackDate(at: Date, format = '{date_short_pretty} at {time}'): string {
  const unixSeconds = Math.floor(at.getTime() / 1000);
  const fallback = `${at.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  return `<!date^${unixSeconds}^${format}|${fallback}>`;
}

/**
 * "at 14:05 (today)": a moment after a verb ("Approved by @ana at …"). Time first, since Slack's
 * pretty date reads "today" or "yesterday", and "at today at 14:05" would not read.
 */
export function atSlackTime(at: Date): string {
  return `at ${slackDate(at, '{time} ({date_short_pretty})')}`;
}

/** `1 approval`, `2 approvals`. */
export function countOf(count: number, singular: string, plural = `${singular}s`): string {
  return `${count} ${count === 1 ? singular : plural}`;
}
