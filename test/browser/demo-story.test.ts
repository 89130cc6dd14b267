import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Locator, Page } from 'playwright-core';
import { DEMO_PEOPLE, FIRST_APPROVER, REQUESTER, SECOND_APPROVER, SECURITY_LEAD, type DemoPerson } from '../../tools/demo/demo-cast.ts';
import { ANALYTICS_RESOURCE, DASHBOARD_RESOURCE, SUPPORT_RESOURCE } from '../../tools/demo/demo-policy.ts';
import { DEMO_CUSTOMER } from '../../tools/demo/demo-databases.ts';
import { sendDemoDigest } from '../../tools/demo/demo-stack.ts';
import { launchChromium, StoryCamera, type TestBrowser } from './chromium.ts';
import { startDemoUnderTest, type DemoUnderTest } from '../helpers/demo-under-test.ts';

/**
 * The demo a newcomer starts with `npm run demo`, clicked through in Chromium as a person would:
 * by the names and labels on the page, never by its internals.
 */

let demo: DemoUnderTest;
let browser: TestBrowser;

beforeAll(async () => {
  // A digest every minute, so one covering the story's break-glass comes within the test; grants
  // for seconds, so the story's expiry does not take a minute.
  [demo, browser] = await Promise.all([startDemoUnderTest({ digestSchedule: '* * * * *', shortGrants: true }), launchChromium()]);
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await demo?.stop();
}, 60_000);

// The machine is slow and shared: every wait is for something to appear, with room to spare.
const SHOWS_UP = { timeout: 30_000 };
/** The story's grant (GRANT), revoked by a delayed job: allow for it, the lateness and a busy machine. */
const EXPIRES = { timeout: 150_000, interval: 1_000 };
/** The every-minute digest that covers the break-glass use. */
const DIGEST_ARRIVES = { timeout: 150_000, interval: 1_000 };
/** Long enough to see pg_has_role turn true on the page before it turns false. */
const GRANT = '15s';

/** The live pg_has_role panel's value for one login, as the page shows it. */
async function pgHasRole(page: Page, login: string): Promise<string> {
  const panel = page.getByRole('region', { name: /pg_has_role/ });
  const row = panel.getByRole('row').filter({ has: page.getByRole('cell', { name: login, exact: true }) });
  return (await row.getByRole('cell').last().textContent()) ?? '';
}

/** The customers the second panel says the login's own session sees in orders, as the page shows them. */
async function customersSeen(page: Page): Promise<string[]> {
  const panel = page.getByRole('region', { name: /sees of orders/ });
  const rows = await panel.getByRole('row').all();
  const seen: string[] = [];
  // The first row is the header; each other row is login, customer, orders.
  for (const row of rows.slice(1)) seen.push(((await row.getByRole('cell').nth(1).textContent()) ?? '').trim());
  return seen;
}

async function actAs(page: Page, person: DemoPerson): Promise<void> {
  await page.getByLabel('Acting as').selectOption({ label: `${person.realName} (@${person.name})` });
}

async function openChannel(page: Page, name: string): Promise<void> {
  await page.getByRole('navigation', { name: 'Conversations' }).getByRole('button', { name: `# ${name}`, exact: true }).click();
  await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe(`# ${name}`);
}

/** Types into the message box and sends it with Enter, as a person does. */
async function say(page: Page, text: string): Promise<void> {
  const box = page.getByRole('textbox', { name: /^Message / });
  await box.fill(text);
  await box.press('Enter');
  await expect.poll(() => box.inputValue()).toBe('');
}

/** Picks the option whose text starts as a person would read it (options carry a description after the name). */
async function pick(select: Locator, startsWith: string): Promise<void> {
  await select.waitFor(SHOWS_UP);
  const texts = await select.getByRole('option').allTextContents();
  const label = texts.find((text) => text.startsWith(startsWith));
  if (!label) throw new Error(`no option starting with "${startsWith}" among: ${texts.join(' | ')}`);
  await select.selectOption({ label });
}

/** Latch's messages in the open conversation that contain `text`. */
function latchMessages(page: Page, text: string | RegExp) {
  return page.getByRole('article', { name: 'Message from Latch' }).filter({ hasText: text });
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

  it('request, two approvals, the grant real in PostgreSQL, revoked at expiry, break-glass reviewed by the security lead, and the digest', async () => {
    const camera = new StoryCamera('demo-story');
    const page = await browser.newPage();
    const requesterLogin = `${REQUESTER.name}${demo.names.suffix}`;
    await page.goto(demo.stack.sandboxUrl);
    await expect.poll(() => page.getByTestId('connection').textContent(), SHOWS_UP).toBe('live');

    // The requester asks in #access-requests with the form.
    await actAs(page, REQUESTER);
    await openChannel(page, 'access-requests');
    await say(page, '/request-access');
    const form = page.getByRole('dialog', { name: 'Request access' });
    await form.waitFor(SHOWS_UP);
    await pick(form.getByLabel('Resource'), 'Analytics database');
    await pick(form.getByLabel('Role'), 'read');
    await form.getByLabel('Duration').fill(GRANT);
    await form.getByLabel('Reason').fill('Checking the November revenue dip for the board deck');
    await camera.shoot(page, 'requester fills the form');
    await form.getByRole('button', { name: 'Request', exact: true }).click();
    await form.waitFor({ state: 'detached', ...SHOWS_UP });
    const request = latchMessages(page, 'Access request');
    await request.waitFor(SHOWS_UP);
    await expect.poll(() => request.textContent()).toContain('2 more approvals needed');
    // Latch's own history says what is unusual: the requester has never asked for this before.
    await expect.poll(() => request.textContent()).toContain('Risk flags (1)');
    await expect(request.textContent()).resolves.toContain('first-request: First request for this resource by this person.');
    await camera.shoot(page, 'request posted for approval, with a risk flag');

    // Each approver, in turn, approves it in the channel.
    for (const [index, approver] of [FIRST_APPROVER, SECOND_APPROVER].entries()) {
      await actAs(page, approver);
      await openChannel(page, 'access-requests');
      await request.getByRole('button', { name: 'Approve', exact: true }).click();
      if (index === 0) await expect.poll(() => request.textContent(), SHOWS_UP).toContain('1 more approval needed');
      await camera.shoot(page, `approved by ${approver.name}`);
    }
    await expect.poll(() => request.getByRole('button', { name: 'Approve', exact: true }).count(), SHOWS_UP).toBe(0);

    // The grant is real: PostgreSQL itself says the requester's login holds the role, then not.
    await expect.poll(() => pgHasRole(page, requesterLogin), SHOWS_UP).toBe('true');
    await camera.shoot(page, 'pg_has_role true');
    await expect.poll(() => pgHasRole(page, requesterLogin), EXPIRES).toBe('false');
    await camera.shoot(page, 'revoked at expiry');

    // Break-glass: the requester takes access at once; the security lead reviews it.
    await actAs(page, REQUESTER);
    await openChannel(page, 'security');
    await say(page, `/request-access break-glass ${ANALYTICS_RESOURCE} read 5m Revenue dashboard down during incident INC-7`);
    await expect.poll(() => pgHasRole(page, requesterLogin), SHOWS_UP).toBe('true');
    await camera.shoot(page, 'break-glass granted at once');
    await actAs(page, SECURITY_LEAD);
    await openChannel(page, 'security');
    const alert = latchMessages(page, 'Break-glass access used');
    await alert.waitFor(SHOWS_UP);
    await alert.getByRole('button', { name: 'Mark reviewed' }).click();
    await expect.poll(() => alert.textContent(), SHOWS_UP).toContain(`Reviewed by @${SECURITY_LEAD.realName}`);
    await camera.shoot(page, 'break-glass reviewed by the security lead');

    // The digest: the scheduled one covering the break-glass, and one sent by hand (npm run demo -- digest).
    const scheduled = latchMessages(page, /Break-glass: 1/);
    await expect.poll(() => scheduled.count(), DIGEST_ARRIVES).toBeGreaterThan(0);
    await expect(scheduled.first().textContent()).resolves.toContain(`@${REQUESTER.realName}`);
    const digests = latchMessages(page, 'Access digest');
    const before = await digests.count();
    expect(await sendDemoDigest(demo.stack.latchEnv)).toMatch(/^digest security .* posted to /);
    await expect.poll(() => digests.count(), SHOWS_UP).toBe(before + 1);
    await camera.shoot(page, 'digest in the security channel');

    // Two resources in one request: one card, each item decided on its own rule.
    await actAs(page, REQUESTER);
    await openChannel(page, 'access-requests');
    await say(page, `/request-access ${ANALYTICS_RESOURCE}:read,${DASHBOARD_RESOURCE}:edit ${GRANT} Board deck: the revenue figures and the dashboard that shows them`);
    const bundle = latchMessages(page, 'Access request — 2 resources');
    await bundle.waitFor(SHOWS_UP);
    await expect(bundle.textContent()).resolves.toContain('Revenue dashboard');
    await camera.shoot(page, 'one request for two resources');
    await actAs(page, FIRST_APPROVER);
    await openChannel(page, 'access-requests');
    await bundle.getByRole('button', { name: 'Approve all' }).click();
    await page.getByRole('dialog', { name: 'Approve every item?' }).getByRole('button', { name: 'Approve all' }).click();
    // The dashboard needs one approval and is granted; the database needs a second.
    await expect.poll(() => bundle.textContent(), SHOWS_UP).toContain('1 more approval needed');
    // Each item's card rewrite is a job of its own: the vote's can show before the decided item
    // loses its button, so wait until only the database is left to approve.
    await expect.poll(() => bundle.getByRole('button', { name: 'Approve', exact: true }).count(), SHOWS_UP).toBe(1);
    await actAs(page, SECOND_APPROVER);
    await openChannel(page, 'access-requests');
    await bundle.getByRole('button', { name: 'Approve', exact: true }).click();
    await expect.poll(() => bundle.textContent(), SHOWS_UP).toContain('2 resources — decided');
    await expect.poll(() => pgHasRole(page, requesterLogin), SHOWS_UP).toBe('true');
    await camera.shoot(page, 'both items approved and granted');

    // Support asks for one customer's orders: the database shows them that customer, and no other.
    await expect.poll(() => customersSeen(page), SHOWS_UP).toEqual([expect.stringMatching(/^refused: permission denied/)]);
    await actAs(page, REQUESTER);
    await openChannel(page, 'access-requests');
    await say(page, `/request-access ${SUPPORT_RESOURCE} debug ${GRANT} customer=${DEMO_CUSTOMER} Customer ${DEMO_CUSTOMER} says the refund never arrived`);
    const scoped = latchMessages(page, `customer ${DEMO_CUSTOMER}`);
    await scoped.waitFor(SHOWS_UP);
    await camera.shoot(page, 'a request for one customer');
    await actAs(page, FIRST_APPROVER);
    await openChannel(page, 'access-requests');
    await scoped.getByRole('button', { name: 'Approve', exact: true }).click();
    await expect.poll(() => customersSeen(page), SHOWS_UP).toEqual([String(DEMO_CUSTOMER)]);
    await camera.shoot(page, 'the login sees that customer only');
    await expect.poll(async () => (await customersSeen(page))[0], EXPIRES).not.toBe(String(DEMO_CUSTOMER));
    await camera.shoot(page, 'the scope ended at expiry');
    await page.close();
  }, 480_000);
});
