import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { SLACK_EVENTS_PATH } from '../../../src/slack/app.ts';

// The Slack app manifests people create Latch's app from must grant what the code uses, and no
// more: a missing scope fails at the first click in production (missing_scope), a needless one is
// a permission a security review rightly questions.

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * Every Web API method Latch calls with the bot token, and the bot scopes it needs. A method the
 * code starts calling must be added here, which makes whoever adds it say which scope it needs.
 */
const SCOPES_BY_METHOD: Record<string, string[]> = {
  'auth.test': [], // start-up's check of the bot token (Bolt's app.init), and Latch's workspace
  'bots.info': ['users:read'], // start-up: the app Latch is (its bot's app_id), to refuse other apps' payloads
  'chat.postMessage': ['chat:write'],
  'chat.update': ['chat:write'],
  'chat.postEphemeral': ['chat:write'],
  'views.open': [], // needs the trigger of a click or command, no scope
  'views.update': [],
  'views.publish': [], // App Home
  'users.info': ['users:read', 'users:read.email'], // the email in the profile feeds identity templates
  'usergroups.list': ['usergroups:read'],
  'usergroups.users.list': ['usergroups:read'],
  'usergroups.users.update': ['usergroups:write'],
  'usergroups.enable': ['usergroups:write'],
  'usergroups.disable': ['usergroups:write'],
};

interface Manifest {
  features: {
    app_home: { home_tab_enabled: boolean; messages_tab_enabled: boolean };
    slash_commands: Array<{ command: string; url?: string }>;
  };
  oauth_config: { scopes: { bot: string[]; user?: string[] } };
  settings: {
    event_subscriptions: { request_url?: string; bot_events: string[] };
    interactivity: { is_enabled: boolean; request_url?: string; message_menu_options_url?: string };
    socket_mode_enabled: boolean;
  };
}

const read = (name: string) => parse(readFileSync(join(ROOT, name), 'utf8')) as Manifest;
const http = read('manifest.yml');
const socketMode = read('manifest.socket-mode.yml');

/** `client.<method>(` and `apiCall('<method>'` in src: the Web API methods the code calls. */
function methodsCalledIn(folder: string): Set<string> {
  const found = new Set<string>();
  for (const entry of readdirSync(folder, { withFileTypes: true, recursive: true })) {
    const path = join(entry.parentPath, entry.name);
    if (!entry.isFile() || !entry.name.endsWith('.ts') || path.includes(`${join('src', 'store', 'generated')}`)) continue;
    const source = readFileSync(path, 'utf8');
    for (const match of source.matchAll(/client\.([a-z]+(?:\.[a-zA-Z]+)+)\(/g)) found.add(match[1]!);
    for (const match of source.matchAll(/\.apiCall\(\s*['"]([a-zA-Z.]+)['"]/g)) found.add(match[1]!);
  }
  return found;
}

describe('the Slack app manifests', () => {
  it.each([
    ['manifest.yml', http],
    ['manifest.socket-mode.yml', socketMode],
  ])('%s has /request-access, App Home and its event, and interactivity', (_name, manifest) => {
    expect(manifest.features.slash_commands.map((command) => command.command)).toEqual(['/request-access']);
    expect(manifest.features.app_home.home_tab_enabled).toBe(true);
    expect(manifest.features.app_home.messages_tab_enabled).toBe(true);
    expect(manifest.settings.event_subscriptions.bot_events).toEqual(['app_home_opened']);
    expect(manifest.settings.interactivity.is_enabled).toBe(true);
    expect(manifest.oauth_config.scopes.user).toBeUndefined();
  });

  it('asks for the same bot scopes in both', () => {
    expect(socketMode.oauth_config.scopes.bot).toEqual(http.oauth_config.scopes.bot);
  });

  it('sends everything to Latch’s Slack path over HTTP, and names no URL in Socket Mode', () => {
    const urls = [
      ...http.features.slash_commands.map((command) => command.url),
      http.settings.event_subscriptions.request_url,
      http.settings.interactivity.request_url,
      http.settings.interactivity.message_menu_options_url,
    ];
    for (const url of urls) expect(new URL(url!).pathname).toBe(SLACK_EVENTS_PATH);
    expect(http.settings.socket_mode_enabled).toBe(false);

    expect(socketMode.settings.socket_mode_enabled).toBe(true);
    expect(JSON.stringify(socketMode)).not.toMatch(/"(url|request_url|message_menu_options_url)"/);
  });

  it('knows the scopes of every Web API method the code calls', () => {
    const called = methodsCalledIn(join(ROOT, 'src'));
    expect(called.size).toBeGreaterThan(5); // the scan still finds the calls
    const unknown = [...called].filter((method) => !(method in SCOPES_BY_METHOD));
    expect(unknown, 'add these methods and the scopes they need to SCOPES_BY_METHOD').toEqual([]);
  });

  it('grants every scope those methods need, and no other (commands for the slash command)', () => {
    const called = [...methodsCalledIn(join(ROOT, 'src'))];
    const needed = new Set(['commands', ...called.flatMap((method) => SCOPES_BY_METHOD[method] ?? [])]);
    expect([...http.oauth_config.scopes.bot].sort()).toEqual([...needed].sort());
  });
});
