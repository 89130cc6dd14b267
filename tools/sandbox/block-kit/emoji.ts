/**
 * The emoji Latch's messages use, drawn as small inline SVGs for the sandbox page. A machine
 * without an emoji font (a fresh server, a CI runner) shows them as empty boxes, and they carry the
 * meaning of a status line (✅ approved, ⛔ denied, 🚨 overdue). Each drawing keeps the character
 * beside it, visually hidden, so the text still reads, copies and searches as Slack's does.
 * An emoji not drawn here is left as text.
 */

// 20×20 drawings, in Slack's colours where it has one.
const GREEN = '#2eb67d';
const RED = '#e01e5a';
const BLUE = '#1d9bd1';
const YELLOW = '#ecb22e';
const INK = '#1d1c1d';
const GREY = '#616061';
const BROWN = '#8a5a00';

const hourglassFrame = `<path d="M5 2h10M5 18h10" stroke="${BROWN}" stroke-width="2" stroke-linecap="round"/><path d="M6 3c0 4 3 5.5 4 7-1 1.5-4 3-4 7h8c0-4-3-5.5-4-7 1-1.5 4-3 4-7z" fill="#fde9b3" stroke="${BROWN}" stroke-width="1.2"/>`;

const DRAWINGS: Record<string, string> = {
  '✅': `<rect x="1" y="1" width="18" height="18" rx="4" fill="${GREEN}"/><path d="M5 10.5l3.2 3.2L15 7" fill="none" stroke="#fff" stroke-width="2.4" stroke-linecap="round" stroke-linejoin="round"/>`,
  // Sand still running (⏳) or all run through (⌛).
  '⏳': `${hourglassFrame}<path d="M7.3 5h5.4c-.6 1.6-1.6 2.6-2.7 3.4C8.9 7.6 7.9 6.6 7.3 5zM8 16.5c.5-1.6 1.3-2.4 2-2.9.7.5 1.5 1.3 2 2.9z" fill="#e8a33d"/>`,
  '⌛': `${hourglassFrame}<path d="M7.2 16.5c.4-2.3 1.8-3.6 2.8-4.3 1 .7 2.4 2 2.8 4.3z" fill="#e8a33d"/>`,
  '⏫': `<rect x="1" y="1" width="18" height="18" rx="4" fill="${BLUE}"/><path d="M5.5 10l4.5-4.5 4.5 4.5M5.5 15l4.5-4.5 4.5 4.5" fill="none" stroke="#fff" stroke-width="2.2" stroke-linecap="round" stroke-linejoin="round"/>`,
  '⏰': `<path d="M2.5 5.5l3-3M17.5 5.5l-3-3" stroke="${RED}" stroke-width="2" stroke-linecap="round"/><circle cx="10" cy="11" r="7" fill="#fff" stroke="${RED}" stroke-width="2"/><path d="M10 7v4l2.5 2" fill="none" stroke="${INK}" stroke-width="1.6" stroke-linecap="round"/>`,
  '⏹': `<rect x="1" y="1" width="18" height="18" rx="4" fill="${BLUE}"/><rect x="6" y="6" width="8" height="8" rx="1" fill="#fff"/>`,
  '⚠': `<path d="M10 2L19 18H1z" fill="${YELLOW}" stroke="${BROWN}" stroke-width="1" stroke-linejoin="round"/><path d="M10 7.5v5" stroke="${INK}" stroke-width="2" stroke-linecap="round"/><circle cx="10" cy="15.3" r="1.2" fill="${INK}"/>`,
  '⛔': `<circle cx="10" cy="10" r="9" fill="${RED}"/><rect x="4" y="8.3" width="12" height="3.4" rx="1" fill="#fff"/>`,
  '🗒': `<rect x="3" y="3" width="14" height="16" rx="1.5" fill="#fff" stroke="${GREY}" stroke-width="1.2"/><path d="M6 8h8M6 11h8M6 14h5" stroke="${GREY}" stroke-width="1.2" stroke-linecap="round"/><path d="M6 1.5v3M10 1.5v3M14 1.5v3" stroke="${INK}" stroke-width="1.4" stroke-linecap="round"/>`,
  '🚨': `<path d="M10 1v2M3 4l1.4 1.4M17 4l-1.4 1.4" stroke="${YELLOW}" stroke-width="1.5" stroke-linecap="round"/><path d="M4 16v-6a6 6 0 0 1 12 0v6z" fill="${RED}"/><path d="M7.5 9.5A2.5 2.5 0 0 1 10 7" fill="none" stroke="#fff" stroke-width="1.5" stroke-linecap="round"/><rect x="2.5" y="15.5" width="15" height="3" rx="1" fill="${GREY}"/>`,
  '🚫': `<circle cx="10" cy="10" r="7.8" fill="none" stroke="${RED}" stroke-width="2.4"/><path d="M4.6 4.6l10.8 10.8" stroke="${RED}" stroke-width="2.4"/>`,
  '🛑': `<path d="M6.3 1h7.4L19 6.3v7.4L13.7 19H6.3L1 13.7V6.3z" fill="${RED}"/><rect x="5" y="8.8" width="10" height="2.4" rx="1" fill="#fff"/>`,
  '🟢': `<circle cx="10" cy="10" r="8" fill="${GREEN}"/>`,
};

// Each drawn emoji, with the variation selector (U+FE0F) that asks for its emoji form, if present.
const DRAWN = new RegExp(`(${Object.keys(DRAWINGS).join('|')})\\uFE0F?`, 'gu');

/**
 * `html` (text already escaped for HTML, outside any tag) with each emoji drawn here replaced by
 * its drawing. The character stays in the text, visually hidden, for readers, copying and search.
 */
export function drawEmoji(html: string): string {
  return html.replace(DRAWN, (emoji: string, base: string) => {
    const drawing = DRAWINGS[base];
    return drawing
      ? `<span class="emoji" data-emoji="${base}"><svg viewBox="0 0 20 20" width="20" height="20" aria-hidden="true" focusable="false">${drawing}</svg><span class="emoji-text">${emoji}</span></span>`
      : emoji;
  });
}
