import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { DEMO_PEOPLE, REQUESTER } from '../../src/demo/demo-cast.ts';
import { launchChromium, StoryCamera, type TestBrowser } from './chromium.ts';
import { startDemoUnderTest, type DemoUnderTest } from './demo-under-test.ts';

/**
 * The demo a newcomer starts with `npm run demo`, clicked through in Chromium as a person would:
 * by the names and labels on the page, never by its internals.
 */

let demo: DemoUnderTest;
let browser: TestBrowser;

beforeAll(async () => {
  [demo, browser] = await Promise.all([startDemoUnderTest(), launchChromium()]);
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await demo?.stop();
}, 60_000);

/** The live pg_has_role panel's value for one login, as the page shows it. */
async function pgHasRole(page: Page, login: string): Promise<string> {
  const panel = page.getByRole('region', { name: /pg_has_role/ });
  const row = panel.getByRole('row').filter({ has: page.getByRole('cell', { name: login, exact: true }) });
  return (await row.getByRole('cell').last().textContent()) ?? '';
}

describe('the demo in a browser', () => {
  it('opens the sandbox: the people to act as, the channels, and the live pg_has_role panel', async () => {
    const camera = new StoryCamera('demo-smoke');
    const page = await browser.newPage();
    await page.goto(demo.stack.sandboxUrl);
    await expect.poll(() => page.getByTestId('connection').textContent(), { timeout: 30_000 }).toBe('live');
    const switcher = page.getByLabel('Acting as');
    const options = await switcher.getByRole('option').allTextContents();
    expect(options).toEqual(DEMO_PEOPLE.map((person) => `${person.realName} (@${person.name})`));
    await expect.poll(() => page.getByRole('navigation', { name: 'Conversations' }).getByRole('button').allTextContents()).toEqual(
      expect.arrayContaining(['# access-requests', '# security']),
    );
    const requesterLogin = `${REQUESTER.name}${demo.names.suffix}`;
    await expect.poll(() => pgHasRole(page, requesterLogin), { timeout: 30_000 }).toBe('false');
    await camera.shoot(page, 'sandbox opened');
    await page.close();
  }, 120_000);
});
