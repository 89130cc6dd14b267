import { describe, expect, it } from 'vitest';
import { countOf, escapeAndTruncate, escapeMrkdwn, mention, slackDate, truncate } from '../../../src/slack/mrkdwn.ts';

describe('escapeMrkdwn', () => {
  it.each([
    ['<!channel> see <https://evil|bank>', '&lt;!channel&gt; see &lt;https://evil|bank&gt;'],
    ['<@U999> please', '&lt;@U999&gt; please'],
    ['a & b', 'a &amp; b'],
    // `&` first: an escaped `<` must not become `&amp;lt;`.
    ['&lt; is already text', '&amp;lt; is already text'],
    // Placeholders in usage help: unescaped, Slack reads `<resource>` as a link and shows nothing.
    ['`/request-access <resource> <role>`', '`/request-access &lt;resource&gt; &lt;role&gt;`'],
    ['<&>', '&lt;&amp;&gt;'],
    // Nothing else is touched: Slack's formatting characters are the author's to use.
    ['*bold* _it_ ~s~ `code` "q" \'a\'', '*bold* _it_ ~s~ `code` "q" \'a\''],
    ['', ''],
  ])('%j → %j', (input, expected) => {
    expect(escapeMrkdwn(input)).toBe(expected);
  });
});

describe('truncate', () => {
  it.each([
    { text: 'short', max: 10, expected: 'short' },
    { text: 'exactly10!', max: 10, expected: 'exactly10!' },
    { text: 'eleven char', max: 10, expected: 'eleven ch…' },
    { text: 'abc', max: 0, expected: '' },
  ])('$text cut to $max → $expected', ({ text, max, expected }) => {
    expect(truncate(text, max)).toBe(expected);
  });

  it('never splits an emoji in two', () => {
    const cut = truncate(`${'a'.repeat(8)}😀😀`, 10);
    expect(cut).toBe(`${'a'.repeat(8)}…`);
    expect(cut.length).toBeLessThanOrEqual(10);
  });
});

describe('escapeAndTruncate', () => {
  it('escapes first, so the limit holds for the escaped text', () => {
    const result = escapeAndTruncate('<'.repeat(1000), 3000);
    expect(result.length).toBeLessThanOrEqual(3000);
    expect(result).not.toContain('<');
  });

  it.each([
    { text: 'abcd&efgh', max: 6, expected: 'abcd…' },
    { text: 'ab<cdefgh', max: 6, expected: 'ab…' },
    { text: 'ab<cdefgh', max: 8, expected: 'ab&lt;c…' },
  ])('never leaves half an entity: $text at $max → $expected', ({ text, max, expected }) => {
    expect(escapeAndTruncate(text, max)).toBe(expected);
  });
});

describe('mention', () => {
  it.each([
    ['U012ABCDEF', '<@U012ABCDEF>'],
    ['W0123', '<@W0123>'],
    ['U1> <!channel', 'U1&gt; &lt;!channel'],
  ])('%j → %j', (id, expected) => {
    expect(mention(id)).toBe(expected);
  });
});

describe('slackDate', () => {
  it("shows each reader their own time zone, falling back to UTC", () => {
    expect(slackDate(new Date('2024-05-01T12:34:56Z'))).toBe('<!date^1714566896^{date_short_pretty} at {time}|2024-05-01 12:34 UTC>');
  });
});

describe('countOf', () => {
  it.each([
    [1, '1 approval'],
    [2, '2 approvals'],
    [0, '0 approvals'],
  ])('%i → %j', (count, expected) => {
    expect(countOf(count, 'approval')).toBe(expected);
  });
});
