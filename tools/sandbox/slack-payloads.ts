/**
 * The bodies Slack posts to an app's request URL, in Slack's own shapes: slash commands
 * (form-encoded fields), interactions (`payload=<json>`: block_actions, view_submission,
 * view_closed, block_suggestion) and Events API callbacks (JSON). Only the fields an app reads are
 * filled with real values; the rest are what Slack sends for a workspace without Enterprise Grid.
 */

export interface Team {
  id: string;
  domain: string;
}

export interface Person {
  id: string;
  name: string;
}

export interface AppIdentity {
  appId: string;
  team: Team;
  botUserId: string;
}

/** Slack's deprecated verification token: still sent, and never to be trusted. */
const VERIFICATION_TOKEN = 'sandbox-verification-token';

function userField(person: Person, team: Team) {
  return { id: person.id, username: person.name, name: person.name, team_id: team.id };
}

export function slashCommandFields(input: {
  app: AppIdentity;
  person: Person;
  command: string;
  text: string;
  channel: { id: string; name: string };
  triggerId: string;
  responseUrl: string;
}): Record<string, string> {
  return {
    token: VERIFICATION_TOKEN,
    team_id: input.app.team.id,
    team_domain: input.app.team.domain,
    channel_id: input.channel.id,
    channel_name: input.channel.name,
    user_id: input.person.id,
    user_name: input.person.name,
    command: input.command,
    text: input.text,
    api_app_id: input.app.appId,
    is_enterprise_install: 'false',
    response_url: input.responseUrl,
    trigger_id: input.triggerId,
  };
}

export type ActionContainer =
  | { type: 'message'; channelId: string; channelName: string; messageTs: string; isEphemeral: boolean; message: Record<string, unknown>; responseUrl: string }
  | { type: 'view'; view: Record<string, unknown> };

export function blockActionsPayload(input: { app: AppIdentity; person: Person; container: ActionContainer; action: Record<string, unknown>; triggerId: string }) {
  const { app, person, container } = input;
  const common = {
    type: 'block_actions',
    user: userField(person, app.team),
    api_app_id: app.appId,
    token: VERIFICATION_TOKEN,
    trigger_id: input.triggerId,
    team: app.team,
    enterprise: null,
    is_enterprise_install: false,
    actions: [input.action],
  };
  if (container.type === 'view') {
    const view = container.view;
    return {
      ...common,
      container: { type: 'view', view_id: view.id },
      view,
      state: view.state,
    };
  }
  return {
    ...common,
    container: { type: 'message', message_ts: container.messageTs, channel_id: container.channelId, is_ephemeral: container.isEphemeral },
    channel: { id: container.channelId, name: container.channelName },
    message: container.message,
    state: { values: {} },
    response_url: container.responseUrl,
  };
}

export function viewSubmissionPayload(input: { app: AppIdentity; person: Person; view: Record<string, unknown>; triggerId: string }) {
  return {
    type: 'view_submission',
    team: input.app.team,
    user: userField(input.person, input.app.team),
    api_app_id: input.app.appId,
    token: VERIFICATION_TOKEN,
    trigger_id: input.triggerId,
    view: input.view,
    response_urls: [],
    is_enterprise_install: false,
    enterprise: null,
  };
}

export function viewClosedPayload(input: { app: AppIdentity; person: Person; view: Record<string, unknown>; isCleared: boolean }) {
  return {
    type: 'view_closed',
    team: input.app.team,
    user: userField(input.person, input.app.team),
    api_app_id: input.app.appId,
    token: VERIFICATION_TOKEN,
    view: input.view,
    is_cleared: input.isCleared,
    is_enterprise_install: false,
    enterprise: null,
  };
}

export function blockSuggestionPayload(input: { app: AppIdentity; person: Person; view: Record<string, unknown>; actionId: string; blockId: string; value: string }) {
  return {
    type: 'block_suggestion',
    user: userField(input.person, input.app.team),
    container: { type: 'view', view_id: input.view.id },
    api_app_id: input.app.appId,
    token: VERIFICATION_TOKEN,
    action_id: input.actionId,
    block_id: input.blockId,
    value: input.value,
    team: input.app.team,
    enterprise: null,
    is_enterprise_install: false,
    view: input.view,
  };
}

let eventCounter = 0;

/** An Events API callback, such as `app_home_opened`. */
export function eventCallback(app: AppIdentity, event: Record<string, unknown>) {
  const now = Date.now();
  return {
    token: VERIFICATION_TOKEN,
    team_id: app.team.id,
    api_app_id: app.appId,
    event: { ...event, event_ts: (now / 1000).toFixed(6) },
    type: 'event_callback',
    event_id: `Ev${now.toString(36).toUpperCase()}${++eventCounter}`,
    event_time: Math.floor(now / 1000),
    authorizations: [{ enterprise_id: null, team_id: app.team.id, user_id: app.botUserId, is_bot: true, is_enterprise_install: false }],
    is_ext_shared_channel: false,
  };
}
