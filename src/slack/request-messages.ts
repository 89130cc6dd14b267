import type { WebClient } from '@slack/web-api';
import { alertChannelFor, findResource } from '../domain/policy.ts';
import { loadRequestView, type LoadedRequest } from '../services/load-request-view.ts';
import { latestShownSeq, markMessagesShown } from '../services/messages-shown.ts';
import type { PostedMessage } from '../services/record-posted-message.ts';
import type { RequestView } from '../services/request-view.ts';
import { recordPostedMessage } from '../services/record-posted-message.ts';
import type { ServiceContext } from '../services/service-context.ts';
import { approvalMessage } from './blocks/approval-message.ts';
import { breakGlassAlert } from './blocks/break-glass-alert.ts';
import { requestReceivedNotice } from './blocks/requester-notices.ts';
import { requesterInbox } from './requester-inbox.ts';
import type { SlackMessage } from './blocks/slack-message.ts';

/** What the Slack mechanics read and record through: the use cases' database and policy. */
export type NotifierContext = Pick<ServiceContext, 'db' | 'policy' | 'logger'>;

/**
 * Rewrites of a request's messages in a row when the request keeps changing while they are
 * written; past it, the messages sweep finishes the job.
 */
const MAX_REWRITES = 3;

/**
 * Slack's errors that say "try again later"; any other refusal of an update (the message or its
 * channel is gone, archived, not Latch's) is for good, and writing it again would change nothing.
 */
const TRANSIENT_SLACK_ERRORS = new Set(['internal_error', 'fatal_error', 'service_unavailable', 'request_timeout', 'ratelimited', 'rate_limited']);

/**
 * How Latch's messages reach Slack: posting, replying in a thread, rewriting a request's messages
 * in place. Whom to tell is the notifier's decision, not this file's. A Slack failure is logged and
 * never undoes a stored change, since the database is the truth. A request's messages are never
 * left behind it: a message posted while the request changed is rewritten at once, and one Slack
 * did not take (or a process stopped before writing) is rewritten by the messages sweep
 * (services/refresh-outdated-messages.ts), which messages_seq points at.
 */
export class RequestMessages {
  constructor(
    private readonly client: WebClient,
    private readonly ctx: NotifierContext,
  ) {}

  /** The break-glass alert's channel for a resource: the security channel, else its approval channel. */
  securityChannelFor(resourceId: string): string | null {
    const policy = this.ctx.policy();
    return alertChannelFor(policy, findResource(policy, resourceId));
  }

  /** The request and where its messages are, read fresh with the seq of its newest audit event; null when it is gone. */
  load(requestId: string): Promise<LoadedRequest | null> {
    return loadRequestView(this.ctx.db, this.ctx.policy(), requestId);
  }

  /**
   * After posting messages built from `posted`: if the request changed meanwhile (a decision that
   * committed before their ts was recorded found nothing to update), they are rewritten now. The
   * newest event is read after the ts were recorded, so a change it does not see commits later and
   * its own rewrite finds them.
   */
  async catchUp(posted: LoadedRequest): Promise<void> {
    if ((await latestShownSeq(this.ctx.db, posted.view.id, posted.view.bundle?.cardRequestId)) <= posted.seq) return;
    const fresh = await this.load(posted.view.id);
    if (fresh) await this.rewrite(fresh);
  }

  /** Posts the approval message to the resource's approval channel, once, and remembers where; true when posted. */
  async postApprovalMessage({ view, messages, seq }: LoadedRequest): Promise<boolean> {
    const channel = messages.approvalChannelId;
    if (!channel || messages.approvalMessageTs || !postsForBundle(view)) return false;
    const posted = await this.attempt('post the approval message', () => this.client.chat.postMessage({ channel, ...approvalMessage(view) }));
    if (!posted?.ts) return false;
    await this.recordPosted(view, { kind: 'approval', ts: posted.ts }, seq);
    return true;
  }

  /** Where a message went; every item of a bundle shares its messages, so each finds them again. */
  private async recordPosted(view: RequestView, posted: PostedMessage, seq: bigint): Promise<void> {
    for (const id of view.bundle ? view.bundle.items.map((item) => item.id) : [view.id]) await recordPostedMessage(this.ctx, id, posted, seq);
  }

  /**
   * Break-glass is announced loudly where security looks (the security channel, else the approval
   * channel), once: the message's ts is kept so the review can update it in place.
   */
  async postBreakGlassAlert({ view, messages, seq }: LoadedRequest): Promise<boolean> {
    if (!view.breakGlass || messages.securityMessageTs) return false;
    const channel = this.securityChannelFor(view.resourceId);
    if (!channel) return false;
    const posted = await this.attempt('announce break-glass use to the security channel', () => this.client.chat.postMessage({ channel, ...breakGlassAlert(view) }));
    if (!posted?.ts) return false;
    await recordPostedMessage(this.ctx, view.id, { kind: 'security', ts: posted.ts }, seq);
    return true;
  }

  /** Confirms the request to the requester by DM, once, and remembers the DM to update it later; true when posted. */
  async confirmToRequester({ view, messages, seq }: LoadedRequest): Promise<boolean> {
    if (messages.requesterMessageTs || !postsForBundle(view)) return false;
    // A machine's owning group sees the approval message; outcomes reach it in its thread.
    const inbox = requesterInbox(view);
    if (!inbox) return false;
    // Slack sends DMs from the app to a user id; the answer names the DM channel to update later.
    const confirmed = await this.attempt('confirm the request to the requester', () =>
      this.client.chat.postMessage({ channel: inbox, ...requestReceivedNotice(view) }),
    );
    if (!confirmed?.ts) return false;
    await this.recordPosted(view, { kind: 'requester', channelId: confirmed.channel ?? null, ts: confirmed.ts }, seq);
    return true;
  }

  /**
   * Rewrites every message of the request already in Slack (votes so far, or how it ended), and
   * records that they show it. When the request changed while they were written, another rewrite
   * may have reached Slack first with the newer state, so they are written again from a fresh read.
   * An update Slack did not take leaves them marked out of date, for the messages sweep.
   * `then` (a notice that follows the rewrite) runs once Slack took the first round of updates,
   * while they are recorded, so it does not wait for PostgreSQL.
   */
  async rewrite(loaded: LoadedRequest, then: () => Promise<void> = async () => undefined): Promise<void> {
    let current = loaded;
    let next: (() => Promise<void>) | null = then;
    const runNext = () => {
      const running = next?.();
      next = null;
      return running;
    };
    for (let round = 1; ; round += 1) {
      const { messages, seq, view } = current;
      if (!(messages.approvalMessageTs || messages.requesterMessageTs || messages.securityMessageTs) || !(await this.updateEach(current))) {
        await runNext();
        return;
      }
      const [{ latest: own }] = await Promise.all([markMessagesShown(this.ctx.db, view.id, messages, seq), runNext()]);
      // A bundle's messages show every item: a change to another item is a change to them.
      const latest = view.bundle ? await latestShownSeq(this.ctx.db, view.id, view.bundle.cardRequestId) : own;
      if (latest <= seq || round === MAX_REWRITES) return;
      const fresh = await this.load(view.id);
      if (!fresh) return;
      current = fresh;
    }
  }

  /** One update of each message in Slack; true when Slack took each (or refused it for good). */
  private async updateEach({ view, messages }: LoadedRequest): Promise<boolean> {
    const { approvalChannelId, approvalMessageTs, requesterChannelId, requesterMessageTs, securityMessageTs } = messages;
    let shown = true;
    const securityChannel = view.breakGlass && securityMessageTs ? this.securityChannelFor(view.resourceId) : null;
    if (securityChannel && securityMessageTs) {
      shown = (await this.attemptUpdate('update the break-glass alert', () => this.client.chat.update({ channel: securityChannel, ts: securityMessageTs, ...breakGlassAlert(view) }))) && shown;
    }
    if (approvalChannelId && approvalMessageTs) {
      shown = (await this.attemptUpdate('update the approval message', () => this.client.chat.update({ channel: approvalChannelId, ts: approvalMessageTs, ...approvalMessage(view) }))) && shown;
    }
    if (requesterChannelId && requesterMessageTs) {
      shown =
        (await this.attemptUpdate("update the requester's confirmation", () =>
          this.client.chat.update({ channel: requesterChannelId, ts: requesterMessageTs, ...requestReceivedNotice(view) }),
        )) && shown;
    }
    return shown;
  }

  /**
   * A reply in the approval message's thread, broadcast to the channel when `broadcast`: an edited
   * message notifies nobody, and a reminder nobody sees reminds nobody.
   */
  async replyInApprovalThread({ messages }: LoadedRequest, message: SlackMessage, what: string, broadcast: boolean): Promise<void> {
    const { approvalChannelId: channel, approvalMessageTs: threadTs } = messages;
    if (!channel || !threadTs) return;
    await this.attempt(what, () =>
      this.client.chat.postMessage(broadcast ? { channel, thread_ts: threadTs, reply_broadcast: true, text: message.text, blocks: message.blocks } : { channel, thread_ts: threadTs, ...message }),
    );
  }

  /** A reply in `threadTs`'s thread, broadcast; a message of its own when there is no thread. */
  async replyOrPost(channel: string, threadTs: string | null, message: SlackMessage, what: string): Promise<void> {
    await this.attempt(what, () =>
      threadTs
        ? this.client.chat.postMessage({ channel, thread_ts: threadTs, reply_broadcast: true, text: message.text, blocks: message.blocks })
        : this.client.chat.postMessage({ channel, ...message }),
    );
  }

  /** A message to a channel, or to a person by their user id (a DM from the app). */
  async post(channel: string, message: SlackMessage, what: string): Promise<void> {
    await this.attempt(what, () => this.client.chat.postMessage({ channel, ...message }));
  }

  /** An update, logged when it fails; false only when it may succeed later (see TRANSIENT_SLACK_ERRORS). */
  private async attemptUpdate(what: string, call: () => Promise<unknown>): Promise<boolean> {
    try {
      await call();
      return true;
    } catch (error) {
      const slackError = (error as { data?: { error?: string } }).data?.error;
      this.ctx.logger.error({ err: error, slackError }, `could not ${what}`);
      return slackError !== undefined && !TRANSIENT_SLACK_ERRORS.has(slackError);
    }
  }

  private async attempt<T>(what: string, call: () => Promise<T>): Promise<T | undefined> {
    try {
      return await call();
    } catch (error) {
      this.ctx.logger.error({ err: error, slackError: (error as { data?: { error?: string } }).data?.error }, `could not ${what}`);
      return undefined;
    }
  }
}

/** A bundle's messages are posted by its card's item (the strictest), for all of its items. */
function postsForBundle(view: RequestView): boolean {
  return !view.bundle || view.bundle.cardRequestId === view.id;
}
