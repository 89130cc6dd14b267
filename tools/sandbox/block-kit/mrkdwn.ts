/**
 * Slack's mrkdwn as HTML, for the sandbox page: *bold*, _italic_, ~strike~, `code`, ```blocks```,
 * > quotes, links (`<https://…|label>`), user mentions shown as names (`<@U…>`), channel and user
 * group mentions, `<!here>`-style specials, and `<!date^…>` as a `<time>` the page shows in the
 * reader's time zone. Text arrives with Slack's own escaping (`&amp;`, `&lt;`, `&gt;`); everything
 * is HTML-escaped on the way out, so nothing an app or a person typed becomes markup. Emoji are
 * drawn as images (emoji.ts), since the machine showing the page may have no emoji font.
 */
import { drawEmoji } from './emoji.ts';

export interface Directory {
  userName(id: string): string | undefined;
  channelName(id: string): string | undefined;
  usergroupHandle(id: string): string | undefined;
}

export const emptyDirectory: Directory = { userName: () => undefined, channelName: () => undefined, usergroupHandle: () => undefined };

export function escapeHtml(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;').replaceAll("'", '&#39;');
}

/** Slack's three entities back to characters (`&amp;` last, so `&amp;lt;` stays `&lt;` as typed). */
function unescapeSlack(text: string): string {
  return text.replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&amp;', '&');
}

/** Plain text as Slack shows it: escaped, line breaks kept, emoji drawn. */
export function plainTextHtml(text: string): string {
  return drawEmoji(escapeHtml(text)).replaceAll('\n', '<br>');
}

export function mrkdwnHtml(text: string, directory: Directory = emptyDirectory): string {
  // Code blocks first: nothing inside them is formatted.
  return text
    .split(/(```[\s\S]*?```)/)
    .map((part) =>
      part.startsWith('```') && part.endsWith('```') && part.length >= 6
        ? `<pre class="mrkdwn-pre">${drawEmoji(escapeHtml(unescapeSlack(part.slice(3, -3).replace(/^\n/, ''))))}</pre>`
        : formatLines(part, directory),
    )
    .join('');
}

function formatLines(text: string, directory: Directory): string {
  return text
    .split('\n')
    .map((line) => {
      const quote = /^(?:&gt;|>)\s?(.*)$/.exec(line);
      return quote ? `<blockquote class="mrkdwn-quote">${formatInline(quote[1]!, directory)}</blockquote>` : formatInline(line, directory);
    })
    .join('<br>')
    .replaceAll('</blockquote><br>', '</blockquote>');
}

function formatInline(text: string, directory: Directory): string {
  const tokens: string[] = [];
  const hold = (html: string) => `\u0000${tokens.push(html) - 1}\u0000`;
  let held = text.replace(/<([^<>\n]+)>/g, (_match, inner: string) => hold(angleToken(inner, directory)));
  held = held.replace(/`([^`\n]+)`/g, (_match, code: string) => hold(`<code>${drawEmoji(escapeHtml(unescapeSlack(code)))}</code>`));
  // Emoji are drawn while the text holds no tags, only placeholders, so no attribute is touched.
  let html = drawEmoji(escapeHtml(unescapeSlack(held)));
  const around = (marker: string, tag: string) => {
    const m = marker === '*' ? '\\*' : marker;
    const pattern = new RegExp(`(^|[\\s(>\\u0000_~*])${m}(?=\\S)([^${m}\\n]*?\\S)${m}(?=$|[\\s.,!?;:)<\\u0000_~*'"-])`, 'g');
    html = html.replace(pattern, (_match, before: string, inner: string) => `${before}<${tag}>${inner}</${tag}>`);
  };
  around('*', 'strong');
  around('_', 'em');
  around('~', 'del');
  return html.replace(/\u0000(\d+)\u0000/g, (_match, index: string) => tokens[Number(index)]!);
}

/** What is between `<` and `>`: a mention, a special, a date, or a link. */
function angleToken(inner: string, directory: Directory): string {
  const [target = '', label] = splitLabel(inner);
  if (target.startsWith('@')) {
    const id = target.slice(1);
    const name = directory.userName(id) ?? label ?? id;
    return `<span class="mention" data-user-id="${escapeHtml(id)}">@${escapeHtml(unescapeSlack(name))}</span>`;
  }
  if (target.startsWith('#')) {
    const id = target.slice(1);
    const name = directory.channelName(id) ?? label ?? id;
    return `<span class="mention channel-mention" data-channel-id="${escapeHtml(id)}">#${escapeHtml(unescapeSlack(name))}</span>`;
  }
  if (target.startsWith('!subteam^')) {
    const id = target.slice('!subteam^'.length);
    const handle = directory.usergroupHandle(id) ?? label?.replace(/^@/, '') ?? id;
    return `<span class="mention group-mention" data-usergroup-id="${escapeHtml(id)}">@${escapeHtml(unescapeSlack(handle))}</span>`;
  }
  if (target.startsWith('!date^')) return dateToken(target, label);
  if (target.startsWith('!')) {
    const special = target.slice(1).split('^')[0]!;
    return `<span class="mention">@${escapeHtml(label ?? special)}</span>`;
  }
  const url = unescapeSlack(target);
  const shown = escapeHtml(unescapeSlack(label ?? target));
  if (!/^(https?:|mailto:)/i.test(url)) return shown;
  return `<a href="${escapeHtml(url)}" target="_blank" rel="noopener noreferrer">${shown}</a>`;
}

function splitLabel(inner: string): [string, string | undefined] {
  const bar = inner.indexOf('|');
  return bar < 0 ? [inner, undefined] : [inner.slice(0, bar), inner.slice(bar + 1)];
}

/**
 * `<!date^1700000000^{date_short_pretty} at {time}|fallback>`: shown in UTC here, and re-shown
 * by the page in the acting person's time zone (`data-slack-date`, `data-format`).
 */
function dateToken(target: string, fallback: string | undefined): string {
  const [, seconds = '', format = '{date_short}'] = target.split('^');
  const at = new Date(Number(seconds) * 1000);
  if (!Number.isFinite(at.getTime())) return escapeHtml(unescapeSlack(fallback ?? ''));
  return `<time datetime="${at.toISOString()}" data-slack-date="${escapeHtml(seconds)}" data-format="${escapeHtml(format)}">${escapeHtml(formatSlackDate(at, format, 'UTC'))}</time>`;
}

/** Slack's date tokens, in `timeZone`; the page runs the same function in the browser. */
export function formatSlackDate(at: Date, format: string, timeZone: string): string {
  const part = (options: Intl.DateTimeFormatOptions) => new Intl.DateTimeFormat('en-GB', { timeZone, ...options }).format(at);
  const time = part({ hour: '2-digit', minute: '2-digit', hour12: false });
  const zone = new Intl.DateTimeFormat('en-GB', { timeZone, timeZoneName: 'short' }).formatToParts(at).find((p) => p.type === 'timeZoneName')?.value ?? '';
  const replacements: Record<string, string> = {
    '{date_num}': part({ year: 'numeric', month: '2-digit', day: '2-digit' }),
    '{date}': part({ year: 'numeric', month: 'long', day: 'numeric' }),
    '{date_short}': part({ year: 'numeric', month: 'short', day: 'numeric' }),
    '{date_long}': part({ weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' }),
    '{date_pretty}': part({ year: 'numeric', month: 'long', day: 'numeric' }),
    '{date_short_pretty}': part({ year: 'numeric', month: 'short', day: 'numeric' }),
    '{date_long_pretty}': part({ weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' }),
    '{time}': `${time} ${zone}`.trim(),
    '{time_secs}': `${part({ hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false })} ${zone}`.trim(),
  };
  return format.replace(/\{[a-z_]+\}/g, (token) => replacements[token] ?? token);
}
