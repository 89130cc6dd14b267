import { describe, expect, it } from 'vitest';
import { mrkdwnHtml, type Directory } from '../../../../tools/sandbox/block-kit/mrkdwn.ts';
import { renderBlocks, renderMessage, renderView, type RenderContext } from '../../../../tools/sandbox/block-kit/render.ts';
import { approvalMessage } from '../../../../src/slack/blocks/approval-message.ts';
import { breakGlassAlert } from '../../../../src/slack/blocks/break-glass-alert.ts';
import { denyReasonModal } from '../../../../src/slack/blocks/deny-reason-modal.ts';
import { outcomeNotice, requestReceivedNotice } from '../../../../src/slack/blocks/requester-notices.ts';
import { requestModal } from '../../../../src/slack/blocks/request-modal.ts';
import { INJECTION_ESCAPED, requestView } from '../../../helpers/request-view-fixture.ts';

const directory: Directory = {
  userName: (id) => ({ U1: 'Riley Requester', U2: 'Avery Approver' })[id],
  channelName: (id) => ({ C1: 'access-requests' })[id],
  usergroupHandle: (id) => ({ S1: 'db-approvers' })[id],
};
const context = (overrides: Partial<RenderContext> = {}): RenderContext => ({ directory, surface: 'message', idPrefix: 'm1', ...overrides });

describe('mrkdwn as HTML', () => {
  it('shows bold, italic, strike, code and code blocks, and keeps line breaks', () => {
    expect(mrkdwnHtml('*Reason*\n_soon_ ~old~ `prod-db`')).toBe('<strong>Reason</strong><br><em>soon</em> <del>old</del> <code>prod-db</code>');
    expect(mrkdwnHtml('```select *\nfrom t```')).toBe('<pre class="mrkdwn-pre">select *\nfrom t</pre>');
    expect(mrkdwnHtml('2 * 3 * 4')).toBe('2 * 3 * 4');
  });

  it('shows user, channel and group mentions by name, and links with their label', () => {
    expect(mrkdwnHtml('<@U1> in <#C1> for <!subteam^S1>', directory)).toBe(
      '<span class="mention" data-user-id="U1">@Riley Requester</span> in <span class="mention channel-mention" data-channel-id="C1">#access-requests</span> for <span class="mention group-mention" data-usergroup-id="S1">@db-approvers</span>',
    );
    expect(mrkdwnHtml('see <https://example.com/a?b=1&amp;c=2|the runbook>')).toBe('see <a href="https://example.com/a?b=1&amp;c=2" target="_blank" rel="noopener noreferrer">the runbook</a>');
    expect(mrkdwnHtml('<@U9>')).toContain('@U9');
  });

  it('turns no text into markup: Slack-escaped user text stays text, and only web links become links', () => {
    expect(mrkdwnHtml(INJECTION_ESCAPED)).toBe('&lt;!channel&gt; see &lt;https://evil|bank&gt;');
    expect(mrkdwnHtml('<javascript:alert(1)|click>')).toBe('click');
    expect(mrkdwnHtml('a "quote" &amp; <img>')).not.toContain('<img');
  });

  it('shows a Slack date as a <time> with its fallback formatted, for the page to show in the reader zone', () => {
    const html = mrkdwnHtml('<!date^1700000000^{date_short_pretty} at {time}|2023-11-14 22:13 UTC>');
    expect(html).toMatch(/^<time datetime="2023-11-14T22:13:20.000Z" data-slack-date="1700000000" data-format="[^"]+">14 Nov 2023 at 22:13 UTC<\/time>$/);
  });
});

/** What a reader's text is, tags taken out (what copying or searching the page finds). */
const textOf = (html: string) => html.replace(/<[^>]*>/g, '');

describe('emoji on a machine without an emoji font', () => {
  it('draws the emoji Latch sends as inline SVGs, keeping each character in the text', () => {
    const html = mrkdwnHtml('✅ *Approved* · ⛔ Denied · ⏹️ ended · ⚠️ failed');
    expect(html.match(/<svg /g)).toHaveLength(4);
    expect(html).toContain('<span class="emoji" data-emoji="✅"><svg viewBox="0 0 20 20"');
    expect(html).toContain('<strong>Approved</strong>');
    expect(textOf(html)).toBe('✅ Approved · ⛔ Denied · ⏹️ ended · ⚠️ failed');
  });

  it('draws them in headers, buttons and code too, and leaves an emoji it has no drawing for as text', () => {
    expect(renderBlocks([{ type: 'header', text: { type: 'plain_text', text: '🚨 Revocation overdue' } }], context())).toContain('data-emoji="🚨"');
    expect(mrkdwnHtml('`⏳ waiting`')).toMatch(/^<code><span class="emoji" data-emoji="⏳">.*<\/span> waiting<\/code>$/);
    expect(mrkdwnHtml('🦄 unicorn')).toBe('🦄 unicorn');
  });

  it('touches nothing inside a tag: a name with an emoji in a mention stays text, escaped', () => {
    const named: Directory = { ...directory, userName: (id) => (id === 'U7' ? '✅ "Checked" <b>' : undefined) };
    expect(mrkdwnHtml('<@U7>', named)).toBe('<span class="mention" data-user-id="U7">@✅ &quot;Checked&quot; &lt;b&gt;</span>');
  });
});

describe('Block Kit as HTML', () => {
  it("draws Latch's approval message: header, fields, context and the styled Approve and Deny buttons", () => {
    const html = renderBlocks(approvalMessage(requestView({ requiredApprovals: 2 })).blocks, context());
    expect(html).toContain('role="heading" aria-level="3">Access request</div>');
    expect(html).toContain('<div class="bk-field"><strong>Requester</strong><br><span class="mention" data-user-id="U1">@Riley Requester</span></div>');
    expect(html).toMatch(/<button type="button" class="bk-button bk-button-primary" data-action-id="latch_approve" data-block-id="latch_approval_actions:r1" data-type="button" data-value="[0-9a-f-]{36}"[^>]*>Approve<\/button>/);
    expect(html).toMatch(/class="bk-button bk-button-danger" data-action-id="latch_deny"/);
    expect(html).toContain('2 more approvals needed');
    expect(html).not.toContain('bk-unsupported');
  });

  it("draws every message and modal Latch sends without an unsupported block", () => {
    const messages = [
      approvalMessage(requestView({ state: 'active', grant: { grantedAt: new Date(), expiresAt: new Date(), revokedAt: null, endedBy: null, overdueError: null } as never })),
      requestReceivedNotice(requestView()),
      outcomeNotice(requestView({ state: 'denied', outcomeReason: 'not now' })),
      breakGlassAlert(requestView({ breakGlass: { reviewedBy: null, reviewedAt: null, reviewDueAt: new Date() } as never, state: 'active' })),
    ];
    for (const message of messages) expect(renderBlocks(message.blocks, context())).not.toContain('bk-unsupported');
    for (const view of [requestModal({ resources: [{ id: 'prod-db', name: 'Production database', roles: [{ id: 'read', maxDurationSeconds: 3600 }] }], selectedResourceId: 'prod-db' }), denyReasonModal({ requestId: 'r', resourceName: 'db', role: 'read' })]) {
      expect(renderBlocks(view.blocks, context({ surface: 'modal', idPrefix: 'V1' }))).not.toContain('bk-unsupported');
    }
  });

  it('asks before a button with confirm, carrying its words', () => {
    const html = renderBlocks([{ type: 'actions', block_id: 'a', elements: [{ type: 'button', action_id: 'end', text: { type: 'plain_text', text: 'Revoke now' }, style: 'danger', confirm: { title: { type: 'plain_text', text: 'Sure?' }, text: { type: 'plain_text', text: 'It ends now.' }, confirm: { type: 'plain_text', text: 'Revoke' }, deny: { type: 'plain_text', text: 'Keep' }, style: 'danger' } }] }], context());
    const confirm = /data-confirm="([^"]+)"/.exec(html)![1]!.replaceAll('&quot;', '"');
    expect(JSON.parse(confirm)).toEqual({ title: 'Sure?', text: 'It ends now.', confirm: 'Revoke', deny: 'Keep', style: 'danger' });
  });

  it("labels a modal's inputs, keeps what was typed over initial values, and shows an error under its field", () => {
    const modal = requestModal({ resources: [{ id: 'prod-db', name: 'Production database', roles: [{ id: 'read', description: 'SELECT only', maxDurationSeconds: 8 * 3600 }] }], selectedResourceId: 'prod-db', values: { duration: '1h' } });
    const html = renderView(
      {
        id: 'V1',
        type: 'modal',
        view: modal as unknown as Record<string, unknown>,
        state: { values: { latch_request_duration: { latch_request_duration_input: { type: 'plain_text_input', value: '99d' } }, 'latch_request_role:prod-db': { latch_request_role_select: { type: 'static_select', selected_option: { value: 'read' } } } } },
        errors: { latch_request_duration: 'At most 8h for read.' },
      },
      directory,
    );
    expect(html).toMatch(/^<form class="modal" role="dialog" aria-modal="true" aria-labelledby="V1-title"/);
    expect(html).toContain('<h2 id="V1-title">Request access</h2>');
    expect(html).toContain('<label class="bk-label" for="V1-latch_request_duration-latch_request_duration_input">Duration</label>');
    expect(html).toMatch(/<input type="text" id="V1-latch_request_duration-latch_request_duration_input"[^>]*aria-describedby="V1-latch_request_duration-latch_request_duration_input-error [^"]*" aria-invalid="true"[^>]*value="99d">/);
    expect(html).toContain('<div class="bk-error" role="alert" id="V1-latch_request_duration-latch_request_duration_input-error" data-testid="field-error">At most 8h for read.</div>');
    expect(html).toContain('<option value="read" selected>read — SELECT only — at most 8h</option>');
    expect(html).toMatch(/<textarea [^>]*maxlength="\d+"/);
    expect(html).toContain('type="datetime-local"');
    expect(html).toContain('data-dispatch-action="true"');
    expect(html).toContain('<button type="submit" class="bk-button bk-button-primary" data-testid="modal-submit">Request</button>');
    expect(html).toContain('<button type="button" class="bk-button" data-modal-close>Cancel</button>');
  });

  it('draws an external select as a combobox whose options come from the app', () => {
    const html = renderBlocks([{ type: 'input', block_id: 'r', label: { type: 'plain_text', text: 'Resource' }, element: { type: 'external_select', action_id: 's', min_query_length: 0, placeholder: { type: 'plain_text', text: 'Search' } } }], context({ surface: 'modal', idPrefix: 'V2' }));
    expect(html).toContain('<label class="bk-label" for="V2-r-s">Resource</label>');
    expect(html).toMatch(/<input id="V2-r-s" class="bk-combobox" role="combobox"[^>]*data-min-query-length="0" data-action-id="s" data-block-id="r" data-type="external_select"/);
  });

  it('says so when it meets a block it does not draw, instead of dropping it', () => {
    expect(renderBlocks([{ type: 'video', block_id: 'v' }], context())).toContain('Block type <code>video</code> is not shown by the sandbox.');
  });
});

describe('a message', () => {
  it('carries its ts and channel, names its poster, and marks an ephemeral one', () => {
    const html = renderMessage({ channel: 'C1', ts: '1700000000.000100', text: 'only *you*', user: 'U0BOT', visibleTo: 'U1' }, directory, { appName: 'Latch', botUserId: 'U0BOT' });
    expect(html).toMatch(/^<article class="message message-ephemeral" data-testid="message" data-ts="1700000000.000100" data-channel="C1" data-visible-to="U1" aria-label="Message from Latch">/);
    expect(html).toContain('<div class="message-note">Only visible to you</div>');
    expect(html).toContain('<div class="bk-text">only <strong>you</strong></div>');
  });

  it('shows the blocks instead of the text when there are blocks, as Slack does, and says when it was edited', () => {
    const html = renderMessage({ channel: 'C1', ts: '1.000001', text: 'fallback', blocks: [{ type: 'divider' }], user: 'U2', edited: true }, directory);
    expect(html).not.toContain('fallback');
    expect(html).toContain('<span class="message-poster">Avery Approver</span>');
    expect(html).toContain('(edited)');
  });
});
