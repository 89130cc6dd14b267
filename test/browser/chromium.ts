import { existsSync, mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

/**
 * Debian's Chromium driven by playwright-core: Playwright cannot download its own browsers on
 * these machines (see shared/MACHINES.md), so `.ci/run` installs the `chromium` package and tests
 * launch it by path. CHROMIUM_PATH overrides the path.
 */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Screenshots go here, one folder per test file; test-output/ is gitignored. */
export const SCREENSHOT_ROOT = fileURLToPath(new URL('../../test-output/browser/', import.meta.url));

// No sandbox because CI runs as root; no GPU, QUIC, sync, updates or background traffic because
// the machine has no display and no internet beyond package mirrors, and each would only wait on a
// network it cannot reach.
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

export interface TestBrowser {
  browser: Browser;
  /** A fresh page in a context of its own, sized like a laptop screen. */
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

/** Launches Chromium with a fresh profile folder that close() removes. */
export async function launchChromium(): Promise<TestBrowser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`Chromium is not at ${CHROMIUM_PATH}: install it (apt-get install -y chromium; .ci/run does) or set CHROMIUM_PATH`);
  }
  const profile = mkdtempSync(join(tmpdir(), 'latch-chromium-'));
  // launchPersistentContext is the only way to give Playwright a --user-data-dir; launch() would
  // refuse the flag, and a context per page is enough isolation for one test file.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: { width: 1400, height: 900 },
    timeout: 60_000,
  });
  const browser = context.browser();
  return {
    browser: browser!,
    newPage: () => context.newPage(),
    close: async () => {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Saves numbered screenshots of one story into test-output/browser/<name>/. */
export class StoryCamera {
  private step = 0;
  readonly folder: string;

  constructor(name: string) {
    this.folder = join(SCREENSHOT_ROOT, name);
    rmSync(this.folder, { recursive: true, force: true });
    mkdirSync(this.folder, { recursive: true });
  }

  async shoot(page: Page, label: string): Promise<string> {
    this.step += 1;
    const file = join(this.folder, `${String(this.step).padStart(2, '0')}-${label.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}.png`);
    await page.screenshot({ path: file, fullPage: true });
    return file;
  }
}
