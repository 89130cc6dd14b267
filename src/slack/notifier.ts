import type { WebClient } from '@slack/web-api';
import { findResource } from '../domain/policy.ts';
import type { LatchEvent, LatchEventPublisher, StandingAccess } from '../services/latch-events.ts';
import { loadOverdueGrant, type OverdueGrantView } from '../services/load-overdue-grant.ts';
import type { LoadedRequest } from '../services/load-request-view.ts';
import { grantFailedReply } from './blocks/approval-message.ts';
import { breakGlassReminder } from './blocks/break-glass-alert.ts';
import { approvalReminder, escalationNotice } from './blocks/pending-reminders.ts';
import { outcomeNotice } from './blocks/requester-notices.ts';
import { overdueRevocationDoneNotice, revocationOverdueAlert, standingAccessAlert } from './blocks/security-alerts.ts';
import type { SlackMessage } from './blocks/slack-message.ts';
import { sendDigest } from './digests.ts';
import { RequestMessages, type NotifierContext } from './request-messages.ts';
import { ownerGroupNotice, requesterInbox } from './requester-inbox.ts';

/**
 * Who is told what, in Slack, after each thing that happened: the one place that decides it. Every
 * message is rebuilt from the stored request (loadRequestView), so an event only says which rows
 * changed. "Its messages" are the approval message, the requester's confirmation DM and, for
 * break-glass, the security channel's alert, rewritten in place.
 */
export class SlackNotifier implements LatchEventPublisher {
  private readonly messages: RequestMessages;

  constructor(
    private readonly client: WebClient,
    private readonly ctx: NotifierContext,
  ) {
    this.messages = new RequestMessages(client, ctx);
  }

  async publish(event: LatchEvent): Promise<void> {
    switch (event.type) {
      // Approvers (approval channel), security (break-glass alert) and the requester (DM), each once.
      case 'request.created':
      case 'request.unannounced':
        return this.announce(event.requestId);
      // Nobody is notified; the request's messages show the change (or, found by the messages
      // sweep, a change they missed).
      case 'vote.recorded':
      case 'access.end_requested':
      case 'break_glass.reviewed':
      case 'messages.outdated':
        return this.refresh(event.requestId);
      // The request's messages, and the requester by DM.
      case 'request.decided':
      case 'request.expired':
      case 'request.cancelled':
      case 'access.granted':
      case 'access.ended':
        return this.announceOutcome(event.requestId);
      // As any outcome, and the approvers in the approval thread.
      case 'grant.failed':
        return this.announceFailure(event.requestId);
      // The approvers, in the approval thread (broadcast).
      case 'reminder.due':
        return this.remindApprovers(event.requestId);
      // The escalation groups, in the approval thread (broadcast), and the request's messages.
      case 'request.escalated':
        return this.announceEscalation(event.requestId);
      // The security channel, in the break-glass alert's thread (broadcast).
      case 'break_glass.review_overdue':
        return this.remindBreakGlassReview(event.requestId);
      // The security channel (else the approval channel), and the request's messages.
      case 'revocation.overdue':
        return this.alertSecurity(event.grantId, event.requestId, revocationOverdueAlert, 'alert the security channel');
      case 'revocation.recovered':
        return this.alertSecurity(event.grantId, event.requestId, overdueRevocationDoneNotice, 'tell the security channel the revocation is done');
      // The security channel.
      case 'standing_access.changed':
        return this.alertStandingAccess(event.found, event.resolved);
      // The digest's own channel, from the policy in force.
      case 'digest.due':
        return this.postDigest(event.name, event.at);
      default:
        return unreachable(event);
    }
  }

  /** Builds the digest from the audit trail and posts it; a failure is thrown, so its job is retried. */
  private async postDigest(name: string, at: Date): Promise<void> {
    await sendDigest(this.client, this.ctx.db, this.ctx.policy(), name, at);
  }

  /**
   * Posts what is not posted yet, so the re-announce sweep fills in what Slack refused earlier
   * without posting anything twice; then catches up with a change made while they were posted.
   */
  private async announce(requestId: string): Promise<void> {
    const loaded = await this.load(requestId);
    if (!loaded) return;
    // An item of a bundle is announced by the card's item, which posts for all of them.
    const card = loaded.view.bundle?.cardRequestId;
    if (card && card !== requestId) return this.announce(card);
    const posted = [await this.messages.postApprovalMessage(loaded), await this.messages.postBreakGlassAlert(loaded), await this.messages.confirmToRequester(loaded)];
    if (posted.some(Boolean)) await this.messages.catchUp(loaded);
  }

  private async refresh(requestId: string): Promise<void> {
    const loaded = await this.load(requestId);
    if (loaded) await this.messages.rewrite(loaded);
  }

  private async announceOutcome(requestId: string): Promise<void> {
    const loaded = await this.load(requestId);
    if (!loaded) return;
    const { view } = loaded;
    // A grant that ended while its extension carries the access on changes nothing for the
    // holder: its messages say so, without a DM that reads like the access ended.
    const tellRequester = !(view.state === 'revoked' && view.continuedUntil);
    await this.messages.rewrite(loaded, async () => {
      if (!tellRequester) return;
      // A machine's owner is told in its place: by DM, or a group in the approval thread.
      const inbox = requesterInbox(view);
      const groupNotice = inbox ? null : ownerGroupNotice(view, outcomeNotice(view));
      if (inbox) await this.messages.post(inbox, outcomeNotice(view), 'tell the requester the outcome');
      else if (groupNotice) await this.messages.replyInApprovalThread(loaded, groupNotice, "tell the machine's owners the outcome", false);
    });
    if (!tellRequester) return;
    // The extended access's own messages now say until when it really lasts.
    if (view.extension && view.state === 'active') await this.refresh(view.extension.extendsRequestId);
  }

  /** Besides the outcome, the approvers hear it in the approval thread: an edited message notifies nobody. */
  private async announceFailure(requestId: string): Promise<void> {
    await this.announceOutcome(requestId);
    const loaded = await this.load(requestId);
    if (loaded) await this.messages.replyInApprovalThread(loaded, grantFailedReply(loaded.view), 'tell the approvers the grant failed', false);
  }

  private async remindApprovers(requestId: string): Promise<void> {
    const loaded = await this.load(requestId);
    const resource = loaded && findResource(this.ctx.policy(), loaded.view.resourceId);
    if (!loaded || !resource) return;
    await this.messages.replyInApprovalThread(loaded, approvalReminder(loaded.view, resource.approvers), 'remind the approvers', true);
  }

  private async announceEscalation(requestId: string): Promise<void> {
    const loaded = await this.load(requestId);
    const groups = loaded && findResource(this.ctx.policy(), loaded.view.resourceId)?.reminders?.escalateTo;
    if (!loaded || !groups?.length) return;
    await this.messages.replyInApprovalThread(loaded, escalationNotice(loaded.view, groups), 'announce the escalation', true);
    await this.messages.rewrite(loaded);
  }

  private async remindBreakGlassReview(requestId: string): Promise<void> {
    const loaded = await this.load(requestId);
    if (!loaded?.view.breakGlass) return;
    const channel = this.messages.securityChannelFor(loaded.view.resourceId);
    if (!channel) return;
    await this.messages.replyOrPost(channel, loaded.messages.securityMessageTs, breakGlassReminder(loaded.view), 'remind the security channel of an unreviewed break-glass use');
  }

  private async alertSecurity(grantId: string, requestId: string, build: (grant: OverdueGrantView) => SlackMessage, what: string): Promise<void> {
    const overdue = await loadOverdueGrant(this.ctx.db, this.ctx.policy(), grantId);
    if (!overdue) return;
    if (!overdue.channel) {
      this.ctx.logger.error({ grantId }, `no channel to ${what}: set security.channel in the policy`);
      return;
    }
    await this.messages.post(overdue.channel, build(overdue.view), what);
    await this.refresh(requestId);
  }

  private async alertStandingAccess(found: StandingAccess[], resolved: StandingAccess[]): Promise<void> {
    const policy = this.ctx.policy();
    const channel = policy.security.channel;
    if (!channel) {
      this.ctx.logger.error({ found }, 'standing access found, but the policy names no security.channel to alert');
      return;
    }
    const named = (finding: StandingAccess) => ({ ...finding, resourceName: findResource(policy, finding.resourceId)?.name ?? finding.resourceId });
    await this.messages.post(channel, standingAccessAlert({ found: found.map(named), resolved: resolved.map(named) }), 'alert the security channel of standing access');
  }

  private load(requestId: string): Promise<LoadedRequest | null> {
    return this.messages.load(requestId);
  }
}

function unreachable(event: never): never {
  throw new Error(`no notice for event ${JSON.stringify(event)}`);
}
