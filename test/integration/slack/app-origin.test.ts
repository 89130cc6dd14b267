import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { REQUEST_RESOURCE_ACTION, REQUEST_RESOURCE_BLOCK, REQUEST_MODAL } from '../../../src/slack/blocks/ids.ts';
import { LatchHarness, TEAM_ID } from '../../helpers/latch-harness.ts';
import { testPolicy } from '../../helpers/test-policy.ts';

// Slack payloads from another workspace or for another app are refused even when correctly
// signed (an org-wide install, another app misrouted to Latch's endpoint): acknowledged, so
// Slack does not retry them, and nothing else happens. Latch learns its own workspace and app
// from Slack at start (auth.test, bots.info): the fake's are T0FAKE and A0LATCH.

const REQUESTER = 'U0REQUESTER';
const OWN_APP = 'A0LATCH';

/** `/request-access` with no text, which opens the request form (views.open) when it is taken. */
function command(fields: { team_id?: string; api_app_id?: string }): Record<string, string> {
  return {
    command: '/request-access',
    text: '',
    user_id: REQUESTER,
    channel_id: 'C0GENERAL',
    trigger_id: `${Math.random()}.trigger`,
    ...Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)),
  };
}

/** Someone opened Latch's App Home: taken, Latch publishes the tab (views.publish). */
function appHomeOpened(fields: { team_id: string; api_app_id: string }) {
  return { token: 'legacy', type: 'event_callback', event_id: `Ev${Math.random()}`, event_time: Math.floor(Date.now() / 1000), ...fields, event: { type: 'app_home_opened', user: REQUESTER, channel: `D0${REQUESTER}`, tab: 'home' } };
}

/** The resource picker's type-ahead: taken, its answer lists the resources. */
function suggestion(team: string, app: string | undefined) {
  return {
    type: 'block_suggestion',
    user: { id: REQUESTER, team_id: team },
    team: { id: team },
    ...(app ? { api_app_id: app } : {}),
    action_id: REQUEST_RESOURCE_ACTION,
    block_id: REQUEST_RESOURCE_BLOCK,
    value: 'prod',
    view: { id: 'V0OPEN', callback_id: REQUEST_MODAL, state: { values: {} } },
  };
}

describe.each(['http', 'socket-mode'] as const)('over %s', (transport) => {
  let h: LatchHarness;
  beforeAll(async () => {
    h = await LatchHarness.start(testPolicy(), { transport });
  });
  afterAll(() => h.close());
  beforeEach(() => h.slack.reset());

  const settled = () => h.latch.listenerWork.idle();

  it('refuses a slash command from another workspace or for another app, and does nothing', async () => {
    const refused = [
      { team_id: 'T0OTHERTEAM', api_app_id: OWN_APP },
      { team_id: TEAM_ID, api_app_id: 'A0OTHERAPP' },
      { team_id: TEAM_ID },
      { api_app_id: OWN_APP },
    ];
    for (const fields of refused) {
      const response = await h.deliver('slash_commands', command(fields));
      expect(response.status).toBe(200);
      expect(await response.text()).toBe('');
    }
    await settled();
    expect(h.slack.calls).toEqual([]);
    // Its own is taken.
    await h.deliver('slash_commands', command({ team_id: TEAM_ID, api_app_id: OWN_APP }));
    await h.slack.waitForCall('views.open');
  });

  it('refuses the type-ahead of another workspace or app, and answers its own', async () => {
    for (const [team, app] of [['T0OTHERTEAM', OWN_APP], [TEAM_ID, 'A0OTHERAPP'], [TEAM_ID, undefined]] as const) {
      const response = await h.interact(suggestion(team, app));
      expect(response.status).toBe(200);
      expect(await response.text()).toBe('');
    }
    const own = await h.interact(suggestion(TEAM_ID, OWN_APP));
    expect(((await own.json()) as { options: unknown[] }).options.length).toBeGreaterThan(0);
  });

  it("refuses another workspace's App Home event, and publishes its own", async () => {
    await h.deliver('events_api', appHomeOpened({ team_id: 'T0OTHERTEAM', api_app_id: OWN_APP }));
    await h.deliver('events_api', appHomeOpened({ team_id: TEAM_ID, api_app_id: 'A0OTHERAPP' }));
    await settled();
    expect(h.slack.callsTo('views.publish')).toEqual([]);
    await h.deliver('events_api', appHomeOpened({ team_id: TEAM_ID, api_app_id: OWN_APP }));
    await h.slack.waitForCall('views.publish');
  });
});
