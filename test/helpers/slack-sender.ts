import type { EnvelopeType, FakeSocketMode } from './fake-socket-mode.ts';
import { interactionBody, postSignedToSlackApp, slashCommandBody } from '../../tools/sandbox/slack-signing.ts';

export const TEAM_ID = 'T0FAKE';

export interface ModalLike {
  id: string;
  hash?: string;
  callback_id: string;
  private_metadata?: string;
  state: { values: Record<string, Record<string, Record<string, unknown>>> };
  [key: string]: unknown;
}

/**
 * How a payload reaches Latch, answering with what Slack got back: over HTTP the response; in
 * Socket Mode the ack's payload, as the body of a 200 response (what Bolt would have answered
 * over HTTP), so a test reads either the same way.
 */
export type SlackDelivery = (type: EnvelopeType, payload: Record<string, unknown>) => Promise<Response>;

/** Delivery as Socket Mode envelopes through the fake Socket Mode server; waits for each ack. */
export function overSocketMode(socket: FakeSocketMode): SlackDelivery {
  return async (type, payload) => {
    const ack = await socket.send(type, payload);
    const answered = ack.payload && Object.keys(ack.payload).length > 0;
    return new Response(answered ? JSON.stringify(ack.payload) : '', { status: 200, headers: answered ? { 'content-type': 'application/json' } : {} });
  };
}

/**
 * What Slack sends to Latch when people type and click: slash commands, button clicks, selects in
 * modals and submissions. Over HTTP to Latch's endpoint, signed as Slack signs it, unless given
 * another delivery (Socket Mode). For an in-process Latch (the harness) and for a `latch start`
 * process alike.
 */
export class SlackSender {
  private triggers = 0;

  constructor(
    readonly eventsUrl: string,
    private readonly signingSecret: string,
    /** Where Slack would tell Latch to send responses to a command (the fake Slack's response URL). */
    private readonly responseUrlFor: (id: string) => string,
    private readonly delivery: SlackDelivery | null = null,
    /**
     * Hands a command's answer in its ack to the fake Slack (see command); off in the benchmarks,
     * whose ack latency is the ack's alone and whose drivers read the ack themselves.
     */
    private readonly options: { showAckAnswers?: boolean } = {},
  ) {}

  /**
   * `/request-access <text>` typed by `userId`. An answer Latch put in the ack is handed to the fake
   * Slack's response URL marked `from=ack` before this resolves, as Slack shows it to the person like
   * a message posted there: a test finds the person's answer in one place, whichever way it came.
   */
  async command(userId: string, text = '', responseId = `cmd-${++this.triggers}`): Promise<Response> {
    const acked = await this.deliver('slash_commands', {
      command: '/request-access',
      text,
      user_id: userId,
      user_name: 'someone',
      team_id: TEAM_ID,
      channel_id: 'C0GENERAL',
      trigger_id: this.trigger(),
      response_url: this.responseUrlFor(responseId),
      api_app_id: 'A0LATCH',
    });
    await this.showAckAnswer(acked, responseId);
    return acked;
  }

  private async showAckAnswer(acked: Response, responseId: string): Promise<void> {
    if (acked.status !== 200 || this.options.showAckAnswers === false) return;
    const body = await acked.clone().text();
    if (body === '') return;
    const answer = acked.headers.get('content-type')?.includes('application/json') ? body : JSON.stringify({ text: body });
    const shown = await fetch(`${this.responseUrlFor(responseId)}?from=ack`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: answer });
    await shown.arrayBuffer();
  }

  /**
   * A click on a button carrying `value`, in `channelId`, in the block `blockId` (the first
   * revision's approval buttons unless given). With `responseId`, it carries a response_url as a
   * click on a message does.
   */
  click(userId: string, actionId: string, value: string, channelId = 'C0APPROVALS', blockId = 'latch_approval_actions:r1', responseId?: string): Promise<Response> {
    return this.interact({
      ...this.blockAction(userId),
      ...(responseId ? { response_url: this.responseUrlFor(responseId) } : {}),
      channel: { id: channelId },
      container: { type: 'message', channel_id: channelId, message_ts: '1700000000.000100' },
      actions: [{ type: 'button', action_id: actionId, block_id: blockId, value, action_ts: '1700000000.000200' }],
    });
  }

  /** A click on a button of the person's App Home tab (no channel, no response_url). */
  clickInHome(userId: string, actionId: string, value: string, blockId: string): Promise<Response> {
    return this.interact({
      ...this.blockAction(userId),
      container: { type: 'view', view_id: 'V0HOME' },
      view: { id: 'V0HOME', type: 'home' },
      actions: [{ type: 'button', action_id: actionId, block_id: blockId, value, action_ts: '1700000000.000900' }],
    });
  }

  /** A choice in a select inside an open modal, as Slack sends it with `dispatch_action`. */
  selectInModal(userId: string, view: ModalLike, actionId: string, blockId: string, value: string): Promise<Response> {
    return this.interact({
      ...this.blockAction(userId),
      container: { type: 'view', view_id: view.id },
      view: { ...view, state: { values: { ...view.state.values, [blockId]: { [actionId]: { type: 'static_select', selected_option: { value } } } } } },
      actions: [{ type: 'static_select', action_id: actionId, block_id: blockId, selected_option: { value }, action_ts: '1700000000.000300' }],
    });
  }

  /** A modal submitted with `values` (block_id → action_id → element state). */
  submit(userId: string, view: ModalLike): Promise<Response> {
    return this.interact({ type: 'view_submission', user: { id: userId, team_id: TEAM_ID }, team: { id: TEAM_ID }, api_app_id: 'A0LATCH', trigger_id: this.trigger(), view });
  }

  /** An Events API callback (e.g. app_home_opened), as Slack sends it: JSON, signed. */
  event(event: Record<string, unknown>): Promise<Response> {
    return this.deliver('events_api', { token: 'legacy', team_id: TEAM_ID, api_app_id: 'A0LATCH', type: 'event_callback', event_id: `Ev${++this.triggers}`, event_time: Math.floor(Date.now() / 1000), event });
  }

  interact(payload: Record<string, unknown>): Promise<Response> {
    return this.deliver('interactive', payload);
  }

  /**
   * Any payload, as Slack sends that type: over HTTP each type has its encoding (a form, a form
   * holding `payload`, or JSON); in Socket Mode an envelope.
   */
  deliver(type: EnvelopeType, payload: Record<string, unknown>): Promise<Response> {
    if (this.delivery) return this.delivery(type, payload);
    if (type === 'slash_commands') return this.post(slashCommandBody(payload as Record<string, string>));
    if (type === 'interactive') return this.post(interactionBody(payload));
    return this.post(JSON.stringify(payload));
  }

  post(body: string, options: { signingSecret?: string; timestamp?: number } = {}): Promise<Response> {
    return postSignedToSlackApp(this.eventsUrl, body, { signingSecret: options.signingSecret ?? this.signingSecret, ...(options.timestamp ? { timestamp: options.timestamp } : {}) });
  }

  /** What every block_actions payload carries: who, where, and a fresh trigger. */
  private blockAction(userId: string) {
    return { type: 'block_actions', user: { id: userId, team_id: TEAM_ID }, team: { id: TEAM_ID }, api_app_id: 'A0LATCH', trigger_id: this.trigger() };
  }

  private trigger(): string {
    return `${++this.triggers}.${Date.now()}.trigger`;
  }
}
