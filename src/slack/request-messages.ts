import type { WebClient } from '@slack/web-api';
import { alertChannelFor, findResource } from '../domain/policy.ts';
import type { LoadedRequest } from '../services/load-request-view.ts';
import { recordPostedMessage } from '../services/record-posted-message.ts';
import type { ServiceContext } from '../services/service-context.ts';
import { approvalMessage } from './blocks/approval-message.ts';
import { breakGlassAlert } from './blocks/break-glass-alert.ts';
import { requestReceivedNotice } from './blocks/requester-notices.ts';
import type { SlackMessage } from './blocks/slack-message.ts';

/** What the Slack mechanics read and record through: the use cases' database and policy. */
export type NotifierContext = Pick<ServiceContext, 'db' | 'policy' | 'logger'>;

/**
 * How Latch's messages reach Slack: posting, replying in a thread, rewriting a request's messages
 * in place. Whom to tell is the notifier's decision, not this file's. Each call is one attempt: a
 * Slack failure is logged and never undoes a stored change, since the database is the truth and
 * the next change (or the re-announce sweep) rewrites the messages whole.
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

  /** Posts the approval message to the resource's approval channel, once, and remembers where. */
  async postApprovalMessage({ view, messages }: LoadedRequest): Promise<void> {
    const channel = messages.approvalChannelId;
    if (!channel || messages.approvalMessageTs) return;
    const posted = await this.attempt('post the approval message', () => this.client.chat.postMessage({ channel, ...approvalMessage(view) }));
    if (posted?.ts) await recordPostedMessage(this.ctx, view.id, { kind: 'approval', ts: posted.ts });
  }

  /**
   * Break-glass is announced loudly where security looks (the security channel, else the approval
   * channel), once: the message's ts is kept so the review can update it in place.
   */
  async postBreakGlassAlert({ view, messages }: LoadedRequest): Promise<void> {
    if (!view.breakGlass || messages.securityMessageTs) return;
    const channel = this.securityChannelFor(view.resourceId);
    if (!channel) return;
    const posted = await this.attempt('announce break-glass use to the security channel', () => this.client.chat.postMessage({ channel, ...breakGlassAlert(view) }));
    if (posted?.ts) await recordPostedMessage(this.ctx, view.id, { kind: 'security', ts: posted.ts });
  }

  /** Confirms the request to the requester by DM, once, and remembers the DM to update it later. */
  async confirmToRequester({ view, messages }: LoadedRequest): Promise<void> {
    if (messages.requesterMessageTs) return;
    // Slack sends DMs from the app to a user id; the answer names the DM channel to update later.
    const confirmed = await this.attempt('confirm the request to the requester', () =>
      this.client.chat.postMessage({ channel: view.requesterId, ...requestReceivedNotice(view) }),
    );
    if (confirmed?.ts) await recordPostedMessage(this.ctx, view.id, { kind: 'requester', channelId: confirmed.channel ?? null, ts: confirmed.ts });
  }

  /** Rewrites every message of the request already in Slack (votes so far, or how it ended). */
  async rewrite({ view, messages }: LoadedRequest): Promise<void> {
    const { approvalChannelId, approvalMessageTs, requesterChannelId, requesterMessageTs, securityMessageTs } = messages;
    const securityChannel = view.breakGlass && securityMessageTs ? this.securityChannelFor(view.resourceId) : null;
    if (securityChannel && securityMessageTs) {
      await this.attempt('update the break-glass alert', () => this.client.chat.update({ channel: securityChannel, ts: securityMessageTs, ...breakGlassAlert(view) }));
    }
    if (approvalChannelId && approvalMessageTs) {
      await this.attempt('update the approval message', () => this.client.chat.update({ channel: approvalChannelId, ts: approvalMessageTs, ...approvalMessage(view) }));
    }
    if (requesterChannelId && requesterMessageTs) {
      await this.attempt("update the requester's confirmation", () =>
        this.client.chat.update({ channel: requesterChannelId, ts: requesterMessageTs, ...requestReceivedNotice(view) }),
      );
    }
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

  private async attempt<T>(what: string, call: () => Promise<T>): Promise<T | undefined> {
    try {
      return await call();
    } catch (error) {
      this.ctx.logger.error({ err: error, slackError: (error as { data?: { error?: string } }).data?.error }, `could not ${what}`);
      return undefined;
    }
  }
}
