import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { startSandbox, type RunningSandbox } from '../../tools/sandbox/sandbox.ts';
import { freePort } from '../helpers/free-port.ts';
import { launchChromium, StoryCamera, type TestBrowser } from './chromium.ts';

/**
 * The sandbox page itself, in Chromium, as someone trying the demo meets it: a busy channel and
 * Latch's status emoji. No Latch behind it: the messages are posted as the app through the
 * sandbox's own Slack, as Latch's would be.
 */

const PERSON = { id: 'U0RILEY', name: 'riley', realName: 'Riley Requester', email: 'riley@example.com' };
const CHANNEL = { id: 'C0REQUESTS', name: 'access-requests' };
const SHOWS_UP = { timeout: 30_000 };

let sandbox: RunningSandbox;
let browser: TestBrowser;

beforeAll(async () => {
  [sandbox, browser] = await Promise.all([
    startSandbox({
      port: 0,
      // Nothing listens there: these tests never reach Latch.
      latchUrl: `http://127.0.0.1:${await freePort()}/slack/events`,
      signingSecret: 'sandbox-page-secret',
      botToken: 'xoxb-sandbox-page',
      users: [PERSON],
      channels: [CHANNEL],
      usergroups: [],
    }),
    launchChromium(),
  ]);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await sandbox?.close();
}, 60_000);

/** Posts as the app, as Latch does with chat.postMessage. */
function postAsApp(message: { text: string; blocks?: unknown[] }): void {
  const answer = sandbox.slack.workspace.postMessage({ channel: CHANNEL.id, ...message });
  if (!answer.ok) throw new Error(`the sandbox refused the message: ${String(answer.error)}`);
}

async function openChannel(page: Page): Promise<void> {
  await page.goto(sandbox.url);
  await expect.poll(() => page.getByTestId('connection').textContent(), SHOWS_UP).toBe('live');
  await page.getByRole('navigation', { name: 'Conversations' }).getByRole('button', { name: `# ${CHANNEL.name}`, exact: true }).click();
  await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe(`# ${CHANNEL.name}`);
}

/**
 * Whether the middle of `selector`'s element is on screen and not covered: what a person can click.
 * Run in the page (this project's TypeScript has no DOM types, so it goes as source).
 */
async function reachable(page: Page, selector: string): Promise<boolean> {
  const check = `(() => {
    const element = document.querySelector(${JSON.stringify(selector)});
    if (!element) return false;
    const box = element.getBoundingClientRect();
    const x = box.left + box.width / 2, y = box.top + box.height / 2;
    if (x < 0 || y < 0 || x > window.innerWidth || y > window.innerHeight) return false;
    const top = document.elementFromPoint(x, y);
    return top !== null && (top === element || element.contains(top));
  })()`;
  return (await page.evaluate(check)) === true;
}

describe('the sandbox page', () => {
  it('keeps the message box in view when a channel has many messages: the messages scroll instead', async () => {
    for (let n = 1; n <= 40; n += 1) postAsApp({ text: `Status update ${n} of 40` });
    const camera = new StoryCamera('sandbox-page');
    const page = await browser.newPage();
    await openChannel(page);
    await page.getByText('Status update 40 of 40').waitFor(SHOWS_UP);

    expect(await reachable(page, '[data-testid="message-box"]')).toBe(true);
    // The page itself does not scroll; the conversation does, and shows its newest message.
    expect(await page.evaluate('document.scrollingElement.scrollHeight <= window.innerHeight')).toBe(true);
    expect(await page.getByTestId('messages').evaluate((list) => list.scrollHeight > list.clientHeight)).toBe(true);
    expect(await reachable(page, '[data-testid="messages"] article:last-of-type')).toBe(true);

    // One more message arrives: it shows, and the box is still there to answer it.
    postAsApp({ text: 'Status update 41, just in' });
    await page.getByText('Status update 41, just in').waitFor(SHOWS_UP);
    expect(await reachable(page, '[data-testid="message-box"]')).toBe(true);
    await camera.shoot(page, 'busy channel with the message box in view');
    await page.close();
  }, 120_000);

  it('draws Latch’s status emoji as images, which show without an emoji font, and keeps them in the text', async () => {
    postAsApp({
      text: 'Access request (approved)',
      blocks: [{ type: 'section', text: { type: 'mrkdwn', text: '✅ *Approved* · ⛔ *Denied* · ⏹️ *Access ended* · 🚨 *Revocation overdue*' } }],
    });
    const page = await browser.newPage();
    await openChannel(page);
    const message = page.getByRole('article').filter({ hasText: 'Revocation overdue' });
    await message.waitFor(SHOWS_UP);
    for (const emoji of ['✅', '⛔', '⏹', '🚨']) {
      const drawing = message.locator(`.emoji[data-emoji="${emoji}"] svg`);
      const box = await drawing.boundingBox();
      // Drawn at the size of the text around it, not an empty box of a missing glyph.
      expect(box?.width).toBeGreaterThan(10);
      expect(await drawing.locator('path, rect, circle').count()).toBeGreaterThan(0);
    }
    expect(await message.locator('.message-body').textContent()).toBe('✅ Approved · ⛔ Denied · ⏹️ Access ended · 🚨 Revocation overdue');
    await message.scrollIntoViewIfNeeded();
    await new StoryCamera('sandbox-emoji').shoot(page, 'status emoji drawn');
    await page.close();
  }, 120_000);
});
