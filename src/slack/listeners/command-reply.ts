import type { AckFn, RespondArguments, RespondFn } from '@slack/bolt';
import type { Logger } from '../../logging/logger.ts';

/**
 * How long a slash command's listener may work before its ack goes out empty. Slack shows the
 * person an error when the ack has not arrived within 3 s of sending the command, which includes
 * the network both ways and Latch's replay check before the listener: half of it is kept for those.
 */
export const ANSWER_IN_ACK_WITHIN_MS = 1_500;

/**
 * Slack requests in flight beyond which a slash command is acked at once, as before this existed:
 * about the pool's connections (10 by default). Beyond them work queues for a connection, the
 * answer would mostly miss the bound anyway, and each ack held open is one more HTTP request
 * waiting in the process while it is busiest (issue 19's ack bench at 200/s on a saturated
 * machine: acks held open ran into the load generator's connection limit).
 */
export const ANSWER_IN_ACK_WHILE_IN_FLIGHT_AT_MOST = 10;

/**
 * A slash command's answer, carried in its ack when it is ready in time. Slack shows an ack's body
 * to the person exactly as a message posted to the command's response_url; sent with the ack, it
 * saves Latch an HTTP request to Slack per command (issue 19: a command's CPU in `latch web` goes
 * with the number of times the process wakes up). When the work takes longer than
 * `withinMs`, the ack goes out empty so Slack does not give up, and the answer follows through
 * response_url as before. Either way the person gets exactly one answer per `say`.
 *
 * The listener must call `finish()` when it is done (in a `finally`): a command that said nothing
 * is acked empty then, and the timer is cleared.
 */
export class CommandReply {
  private acked = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly ack: AckFn<string | RespondArguments>,
    private readonly respond: RespondFn,
    private readonly logger: Logger,
    withinMs = ANSWER_IN_ACK_WITHIN_MS,
  ) {
    this.timer = setTimeout(() => void this.acknowledge().catch((error: unknown) => this.logger.warn({ err: error }, 'could not acknowledge a slash command')), withinMs);
  }

  /**
   * Acks at once without an answer: for work that must follow the ack immediately (a modal, whose
   * trigger_id lives 3 s) or that the person should not wait for. Later answers use response_url.
   */
  async acknowledge(): Promise<void> {
    if (this.acked) return;
    this.acked = true;
    clearTimeout(this.timer);
    await this.ack();
  }

  /** Tells the person `answer`: in the ack while it has not gone out, through response_url after. */
  async say(answer: RespondArguments): Promise<void> {
    if (this.acked) {
      await this.respond(answer);
      return;
    }
    this.acked = true;
    clearTimeout(this.timer);
    await this.ack(answer);
  }

  /** Acks empty if nothing was said; idempotent. */
  finish(): Promise<void> {
    return this.acknowledge();
  }
}
