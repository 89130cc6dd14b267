import type { AllMiddlewareArgs, AnyMiddlewareArgs, Middleware, RespondFn } from '@slack/bolt';
import { DEFAULT_MAX_SLACK_WORK } from '../config/env.ts';
import type { Logger } from '../logging/logger.ts';

/**
 * How much listener work may run at once before Slack requests are refused at the door.
 *
 * Every admitted listener acks at once (a slash command within 1.5 s, its answer in the ack when
 * ready by then: listeners/command-reply.ts) and then takes its turn for one of the pool's connections
 * (10 by default) for a few short transactions, with Slack calls in between that hold none. 256
 * is about 25 listeners waiting per connection: at the 70 or so requests a second a busy 2-core
 * machine got through, that queue drains in under 4 s, far inside the 30 s an admitted request
 * may wait for a connection (src/store/database.ts), and a burst of a hundred or two requests in
 * a few seconds is taken whole. (64, tried first, refused part of a 75-command burst sent four at
 * a time, which Latch would have served in seconds.) Beyond it, a request would only wait longer behind the others and
 * risk failing after its ack, which tells the person nothing; refusing it says so at once.
 * A larger bound absorbs longer bursts but lets a form (which writes before its ack) pass Slack's
 * 3 s more often.
 */
export const DEFAULT_MAX_LISTENER_WORK = DEFAULT_MAX_SLACK_WORK; // LATCH_MAX_SLACK_WORK changes it

/** What a refusal is counted by: the kind of Slack request refused. */
export type RefusedKind = 'command' | 'action' | 'view_submission' | 'options' | 'event' | 'view_closed' | 'other';
export const REFUSED_KINDS: readonly RefusedKind[] = ['command', 'action', 'view_submission', 'options', 'event', 'view_closed', 'other'];

export interface RefusalMetrics {
  slackRequestRefused(kind: RefusedKind): void;
}

export const BUSY_COMMAND = 'Latch is busy right now and did not take this command. Nothing was requested; please try again in a minute.';
export const BUSY_CLICK = 'Latch is busy right now and did not take this click. Nothing was decided; please try again in a minute.';
export const BUSY_SUBMISSION = 'Latch is busy right now and did not take this form; submit again in a moment.';

export interface AdmissionGateOptions {
  /** Listener work admitted at once; DEFAULT_MAX_LISTENER_WORK unless given (tests set it low). */
  maxInFlight?: number | undefined;
  logger: Logger;
  metrics?: RefusalMetrics | undefined;
}

type GateArgs = AnyMiddlewareArgs & AllMiddlewareArgs & { ack?: (response?: unknown) => Promise<void>; respond?: RespondFn };

interface LooseBody {
  type?: string;
  command?: string;
  user?: { id?: string };
  user_id?: string;
  channel?: { id?: string };
  view?: { blocks?: Array<{ type?: string; block_id?: string }> };
}

/**
 * Admission control for Slack requests, as Bolt global middleware (HTTP and Socket Mode alike).
 * Listeners ack first (a slash command at the latest after 1.5 s) and work after, so work taken on
 * beyond what PostgreSQL can serve fails after the person was told it was taken. The gate counts the listener work it let in; once that
 * reaches the bound, a request is refused before any listener runs, and the person is told in the
 * way that request type allows: the command's ack, the click's response_url, the modal's errors.
 * Nothing is written for a refused request, so trying again is safe.
 */
export class AdmissionGate {
  private admitted = 0;
  readonly maxInFlight: number;

  constructor(private readonly options: AdmissionGateOptions) {
    this.maxInFlight = options.maxInFlight ?? DEFAULT_MAX_LISTENER_WORK;
    if (!Number.isInteger(this.maxInFlight) || this.maxInFlight < 1) throw new Error(`the admission bound must be a positive whole number, not ${this.maxInFlight}`);
  }

  /** Listener work admitted and not finished yet. */
  get inFlight(): number {
    return this.admitted;
  }

  readonly middleware: Middleware<AnyMiddlewareArgs> = async (args) => {
    if (this.admitted >= this.maxInFlight) {
      await this.refuse(args as GateArgs);
      return;
    }
    this.admitted += 1;
    try {
      await args.next();
    } finally {
      this.admitted -= 1;
    }
  };

  private async refuse(args: GateArgs): Promise<void> {
    const body = args.body as LooseBody;
    const kind = kindOf(body);
    this.options.metrics?.slackRequestRefused(kind);
    // Who and what kind only: a command's text or a form's values may hold what was typed.
    this.options.logger.warn(
      { kind, userId: body.user_id ?? body.user?.id, inFlight: this.admitted, maxInFlight: this.maxInFlight },
      'refused a Slack request: too much listener work in flight',
    );
    try {
      await this.tell(kind, body, args);
    } catch (error) {
      this.options.logger.warn({ err: error, kind }, 'could not tell the person their Slack request was refused');
    }
  }

  private async tell(kind: RefusedKind, body: LooseBody, args: GateArgs): Promise<void> {
    const { ack, respond } = args;
    switch (kind) {
      case 'command':
        await ack?.({ response_type: 'ephemeral', text: BUSY_COMMAND });
        return;
      case 'view_submission': {
        // The errors response keeps the modal open with what was typed in it.
        const blockId = body.view?.blocks?.find((block) => block.type === 'input' && block.block_id)?.block_id;
        if (blockId) {
          await ack?.({ response_action: 'errors', errors: { [blockId]: BUSY_SUBMISSION } });
          return;
        }
        await ack?.();
        await this.directMessage(args, body, BUSY_SUBMISSION);
        return;
      }
      case 'action':
        await ack?.();
        if (respond) await respond({ response_type: 'ephemeral', replace_original: false, text: BUSY_CLICK });
        else await this.directMessage(args, body, BUSY_CLICK);
        return;
      case 'options':
        await ack?.({ options: [] });
        return;
      default:
        // Events are acked by Bolt before any middleware; a closed modal or anything else has
        // nothing to lose.
        await ack?.();
    }
  }

  /** Clicks in a modal or App Home and forms without an input carry no response_url: a DM says it. */
  private async directMessage(args: GateArgs, body: LooseBody, text: string): Promise<void> {
    const userId = body.user?.id ?? body.user_id;
    if (userId) await args.client.chat.postMessage({ channel: userId, text });
  }
}

function kindOf(body: LooseBody): RefusedKind {
  if (typeof body.command === 'string') return 'command';
  switch (body.type) {
    case 'block_actions':
    case 'interactive_message':
      return 'action';
    case 'view_submission':
      return 'view_submission';
    case 'view_closed':
      return 'view_closed';
    case 'block_suggestion':
      return 'options';
    case 'event_callback':
      return 'event';
    default:
      return 'other';
  }
}
