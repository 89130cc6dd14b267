import type { WebClient } from '@slack/web-api';
import { alertChannelFor, findResource, type Policy } from '../domain/policy.ts';
import type { Logger } from '../logging/logger.ts';
import type { Database } from '../store/database.ts';
import { approvalMessage, grantFailedReply } from './blocks/approval-message.ts';
import { breakGlassAlert, breakGlassReminder } from './blocks/break-glass-alert.ts';
import { approvalReminder, escalationNotice } from './blocks/pending-reminders.ts';
import { outcomeNotice, requestReceivedNotice } from './blocks/requester-notices.ts';
import { overdueRevocationDoneNotice, revocationOverdueAlert, standingAccessAlert, type OverdueGrantView } from './blocks/security-alerts.ts';
import type { StandingAccessScan } from '../services/scan-standing-access.ts';
import type { SlackMessage } from './blocks/slack-message.ts';
import { loadRequestView, type LoadedRequest } from './load-request-view.ts';

/**
 * Keeps Slack in step with the database after each commit: the approval message in the
 * resource's channel and the requester's DM are rebuilt from the stored request every time.
 * A Slack failure is logged and never undoes a stored decision: the database is the truth, and
 * the next change (or the reconcile job) rewrites the message whole.
 */
export class RequestMessenger {
  constructor(
    private readonly client: WebClient,
    private readonly db: Database,
    private readonly policy: () => Policy,
    private readonly logger: Logger,
  ) {}

  /**
   * Posts a request to its approval channel and confirms it to the requester by DM — each only if
   * not already posted, so a later retry (the re-announce sweep) fills in what Slack refused
   * without posting anything twice.
   */
  async announce(requestId: string): Promise<void> {
    const loaded = await loadRequestView(this.db, this.policy(), requestId);
    if (!loaded) return;
    const { view, messages } = loaded;
    const approvalChannel = messages.approvalChannelId;
    if (approvalChannel && !messages.approvalMessageTs) {
      const posted = await this.attempt('post the approval message', () =>
        this.client.chat.postMessage({ channel: approvalChannel, ...approvalMessage(view) }),
      );
      if (posted?.ts) await this.db.accessRequest.update({ where: { id: requestId }, data: { approvalMessageTs: posted.ts } });
    }
    if (view.breakGlass && !messages.securityMessageTs) await this.announceBreakGlass(loaded);
    if (!messages.requesterMessageTs) {
      // Slack sends DMs from the app to a user id; the answer names the DM channel to update later.
      const confirmed = await this.attempt('confirm the request to the requester', () =>
        this.client.chat.postMessage({ channel: view.requesterId, ...requestReceivedNotice(view) }),
      );
      if (confirmed?.ts) {
        await this.db.accessRequest.update({
          where: { id: requestId },
          data: { requesterChannelId: confirmed.channel ?? null, requesterMessageTs: confirmed.ts },
        });
      }
    }
  }

  /**
   * Break-glass is announced loudly where security looks (the security channel, else the approval
   * channel), once: the message's ts is kept so the review can update it in place.
   */
  private async announceBreakGlass({ view }: LoadedRequest): Promise<void> {
    const channel = this.securityChannelFor(view.resourceId);
    if (!channel) return;
    const posted = await this.attempt('announce break-glass use to the security channel', () => this.client.chat.postMessage({ channel, ...breakGlassAlert(view) }));
    if (posted?.ts) await this.db.accessRequest.update({ where: { id: view.id }, data: { securityMessageTs: posted.ts } });
  }

  /** Tells the security channel what the standing-access scan found, or found gone. */
  async alertStandingAccess(scan: StandingAccessScan): Promise<void> {
    if (scan.found.length === 0 && scan.resolved.length === 0) return;
    const policy = this.policy();
    const channel = policy.security.channel;
    if (!channel) {
      this.logger.error({ found: scan.found }, 'standing access found, but the policy names no security.channel to alert');
      return;
    }
    const named = (finding: { resourceId: string; role: string; principal: string }) => ({ ...finding, resourceName: findResource(policy, finding.resourceId)?.name ?? finding.resourceId });
    await this.attempt('alert the security channel of standing access', () =>
      this.client.chat.postMessage({ channel, ...standingAccessAlert({ found: scan.found.map(named), resolved: scan.resolved.map(named) }) }),
    );
  }

  /** A reminder in the break-glass alert's thread while its review is overdue. */
  async remindBreakGlassReview(requestId: string): Promise<void> {
    const loaded = await loadRequestView(this.db, this.policy(), requestId);
    if (!loaded?.view.breakGlass) return;
    const channel = this.securityChannelFor(loaded.view.resourceId);
    if (!channel) return;
    const threadTs = loaded.messages.securityMessageTs;
    const reminder = breakGlassReminder(loaded.view);
    // In the alert's thread, and broadcast to the channel: a reminder nobody sees reminds nobody.
    await this.attempt('remind the security channel of an unreviewed break-glass use', () =>
      threadTs
        ? this.client.chat.postMessage({ channel, thread_ts: threadTs, reply_broadcast: true, text: reminder.text, blocks: reminder.blocks })
        : this.client.chat.postMessage({ channel, ...reminder }),
    );
  }

  /** Reminds the approvers, in the approval message's thread, that a request still waits. */
  async remindApprovers(requestId: string): Promise<void> {
    const loaded = await loadRequestView(this.db, this.policy(), requestId);
    const resource = loaded && findResource(this.policy(), loaded.view.resourceId);
    if (!loaded || !resource) return;
    await this.replyInApprovalThread(loaded, approvalReminder(loaded.view, resource.approvers), 'remind the approvers');
  }

  /** Tells the escalation groups, in the approval thread, and shows the escalation on the message. */
  async announceEscalation(requestId: string): Promise<void> {
    const loaded = await loadRequestView(this.db, this.policy(), requestId);
    const groups = loaded && findResource(this.policy(), loaded.view.resourceId)?.reminders?.escalateTo;
    if (!loaded || !groups?.length) return;
    await this.replyInApprovalThread(loaded, escalationNotice(loaded.view, groups), 'announce the escalation');
    await this.rewrite(loaded);
  }

  private async replyInApprovalThread({ messages }: LoadedRequest, message: SlackMessage, what: string): Promise<void> {
    const { approvalChannelId: channel, approvalMessageTs: threadTs } = messages;
    if (!channel || !threadTs) return;
    await this.attempt(what, () => this.client.chat.postMessage({ channel, thread_ts: threadTs, reply_broadcast: true, text: message.text, blocks: message.blocks }));
  }

  private securityChannelFor(resourceId: string): string | null {
    const policy = this.policy();
    return alertChannelFor(policy, findResource(policy, resourceId));
  }

  /** Rewrites both messages from the stored request (votes so far, or how it ended). */
  async refresh(requestId: string): Promise<void> {
    const loaded = await loadRequestView(this.db, this.policy(), requestId);
    if (loaded) await this.rewrite(loaded);
  }

  /** After a request ends: rewrites its messages and tells the requester the outcome by DM. */
  async announceOutcome(requestId: string): Promise<void> {
    const loaded = await loadRequestView(this.db, this.policy(), requestId);
    if (!loaded) return;
    await this.rewrite(loaded);
    const { view } = loaded;
    // A grant that ended while its extension carries the access on changes nothing for the
    // holder: its messages say so, without a DM that reads like the access ended.
    if (view.state === 'revoked' && view.continuedUntil) return;
    await this.attempt('tell the requester the outcome', () =>
      this.client.chat.postMessage({ channel: view.requesterId, ...outcomeNotice(view) }),
    );
    // The extended access's own messages now say until when it really lasts.
    if (view.extension && view.state === 'active') await this.refresh(view.extension.extendsRequestId);
  }

  /**
   * Granting failed: besides the rewritten messages and the requester's DM, the approvers are told
   * in the approval message's thread, since an edited message notifies nobody.
   */
  async announceFailure(requestId: string): Promise<void> {
    await this.announceOutcome(requestId);
    const loaded = await loadRequestView(this.db, this.policy(), requestId);
    const { approvalChannelId, approvalMessageTs } = loaded?.messages ?? {};
    if (!loaded || !approvalChannelId || !approvalMessageTs) return;
    await this.attempt('tell the approvers the grant failed', () =>
      this.client.chat.postMessage({ channel: approvalChannelId, thread_ts: approvalMessageTs, ...grantFailedReply(loaded.view) }),
    );
  }

  /** Tells the security channel (else the approval channel) that a revocation keeps failing. */
  async alertRevocationOverdue(grantId: string): Promise<void> {
    await this.postAlert(grantId, revocationOverdueAlert, 'alert the security channel');
  }

  async announceOverdueRevocationDone(grantId: string): Promise<void> {
    await this.postAlert(grantId, overdueRevocationDoneNotice, 'tell the security channel the revocation is done');
    const grant = await this.db.grant.findUnique({ where: { id: grantId }, select: { requestId: true } });
    if (grant) await this.refresh(grant.requestId);
  }

  private async postAlert(grantId: string, build: (grant: OverdueGrantView) => SlackMessage, what: string): Promise<void> {
    const grant = await this.db.grant.findUnique({ where: { id: grantId }, include: { request: true } });
    if (!grant) return;
    const policy = this.policy();
    const resource = findResource(policy, grant.resourceId);
    const channel = alertChannelFor(policy, resource) ?? grant.request.approvalChannelId;
    if (!channel) {
      this.logger.error({ grantId }, `no channel to ${what}: set security.channel in the policy`);
      return;
    }
    const message = build({
      grantId: grant.id,
      requestId: grant.requestId,
      requesterId: grant.request.requesterSlackId,
      resourceName: resource?.name ?? grant.resourceId,
      role: grant.role,
      principal: grant.principal,
      dueAt: grant.expiresAt,
      attempts: grant.revokeAttempts,
      lastError: grant.lastError,
    });
    await this.attempt(what, () => this.client.chat.postMessage({ channel, ...message }));
    await this.refresh(grant.requestId);
  }

  private async rewrite({ view, messages }: LoadedRequest): Promise<void> {
    const { approvalChannelId, approvalMessageTs, requesterChannelId, requesterMessageTs, securityMessageTs } = messages;
    const securityChannel = view.breakGlass && securityMessageTs ? this.securityChannelFor(view.resourceId) : null;
    if (securityChannel && securityMessageTs) {
      await this.attempt('update the break-glass alert', () => this.client.chat.update({ channel: securityChannel, ts: securityMessageTs, ...breakGlassAlert(view) }));
    }
    if (approvalChannelId && approvalMessageTs) {
      await this.attempt('update the approval message', () =>
        this.client.chat.update({ channel: approvalChannelId, ts: approvalMessageTs, ...approvalMessage(view) }),
      );
    }
    if (requesterChannelId && requesterMessageTs) {
      await this.attempt("update the requester's confirmation", () =>
        this.client.chat.update({ channel: requesterChannelId, ts: requesterMessageTs, ...requestReceivedNotice(view) }),
      );
    }
  }

  private async attempt<T>(what: string, call: () => Promise<T>): Promise<T | undefined> {
    try {
      return await call();
    } catch (error) {
      this.logger.error({ err: error, slackError: (error as { data?: { error?: string } }).data?.error }, `could not ${what}`);
      return undefined;
    }
  }
}
