import { describe, expect, it } from 'vitest';
import { Workspace } from '../../../../tools/sandbox/workspace.ts';

function strictWorkspace(triggerLifetimeMs = 3_000) {
  return new Workspace({ strict: true, botUserId: 'U0BOT', teamId: 'T1', appId: 'A1', triggerLifetimeMs, channelIds: () => ['C1'], userIds: () => ['U1', 'U2'] });
}

const modal = (blocks: unknown[] = []) => ({ type: 'modal', callback_id: 'cb', title: { type: 'plain_text', text: 'T' }, blocks });
const input = (blockId: string) => ({ type: 'input', block_id: blockId, label: { type: 'plain_text', text: blockId }, element: { type: 'plain_text_input', action_id: 'a' } });

describe('a strict workspace', () => {
  it('opens a modal once per trigger_id, for the person it was issued to, and not after it expired', () => {
    const workspace = strictWorkspace();
    const trigger = workspace.issueTrigger('U1');
    expect(workspace.openView({ trigger_id: trigger, view: modal() })).toMatchObject({ ok: true });
    expect(workspace.modalStack('U1')).toHaveLength(1);
    expect(workspace.modalStack('U2')).toHaveLength(0);
    expect(workspace.openView({ trigger_id: trigger, view: modal() })).toEqual({ ok: false, error: 'trigger_exchanged' });
    expect(workspace.openView({ trigger_id: 'made.up.trigger', view: modal() })).toEqual({ ok: false, error: 'invalid_trigger_id' });
    const old = workspace.issueTrigger('U1', Date.now() - 3_001);
    expect(workspace.openView({ trigger_id: old, view: modal() })).toEqual({ ok: false, error: 'trigger_expired' });
  });

  it('keeps what was typed across views.update where the block stays, and refuses a stale hash', () => {
    const workspace = strictWorkspace();
    const opened = workspace.openView({ trigger_id: workspace.issueTrigger('U1'), view: modal([input('kept'), input('dropped')]) }) as unknown as { view: { id: string; hash: string } };
    workspace.setViewState(opened.view.id, { kept: { a: { type: 'plain_text_input', value: 'typed' } }, dropped: { a: { type: 'plain_text_input', value: 'gone' } } });
    expect(workspace.updateView({ view_id: opened.view.id, hash: opened.view.hash, view: modal([input('kept'), input('new')]) })).toMatchObject({ ok: true, view: { id: opened.view.id } });
    expect(workspace.view(opened.view.id)!.state.values).toEqual({ kept: { a: { type: 'plain_text_input', value: 'typed' } } });
    expect(workspace.updateView({ view_id: opened.view.id, hash: opened.view.hash, view: modal() })).toEqual({ ok: false, error: 'hash_conflict' });
  });

  it('stacks at most three modals', () => {
    const workspace = strictWorkspace();
    workspace.openView({ trigger_id: workspace.issueTrigger('U1'), view: modal() });
    workspace.pushView({ trigger_id: workspace.issueTrigger('U1'), view: modal() });
    workspace.pushView({ trigger_id: workspace.issueTrigger('U1'), view: modal() });
    expect(workspace.pushView({ trigger_id: workspace.issueTrigger('U1'), view: modal() })).toEqual({ ok: false, error: 'push_limit_reached' });
    workspace.closeTopModal('U1');
    expect(workspace.modalStack('U1')).toHaveLength(2);
  });

  it('answers a DM posted to a user id with the DM channel, edits messages in place, and knows no other channel', () => {
    const workspace = strictWorkspace();
    const posted = workspace.postMessage({ channel: 'U1', text: 'hello' }) as unknown as { channel: string; ts: string };
    expect(posted.channel).toBe('DU1');
    expect(workspace.update({ channel: posted.channel, ts: posted.ts, text: 'edited' })).toMatchObject({ ok: true });
    expect(workspace.messagesIn('DU1')).toEqual([expect.objectContaining({ ts: posted.ts, text: 'edited', edited: true })]);
    expect(workspace.update({ channel: 'DU1', ts: '1.000001', text: 'x' })).toEqual({ ok: false, error: 'message_not_found' });
    expect(workspace.postMessage({ channel: 'C404', text: 'x' })).toEqual({ ok: false, error: 'channel_not_found' });
    expect(workspace.postMessage({ channel: 'U404', text: 'x' })).toEqual({ ok: false, error: 'channel_not_found' });
  });

  it('shows an ephemeral message, or a response_url answer, to its one person, and a response_url five times only', () => {
    const workspace = strictWorkspace();
    workspace.postEphemeral({ channel: 'C1', user: 'U1', text: 'psst' });
    workspace.issueResponseUrl('r1', { userId: 'U2', channel: 'C1' });
    expect(workspace.respond('r1', { text: 'only U2' })).toEqual({ ok: true });
    expect(workspace.messagesIn('C1', 'U1').map((m) => m.text)).toEqual(['psst']);
    expect(workspace.messagesIn('C1', 'U2').map((m) => m.text)).toEqual(['only U2']);
    for (let use = 2; use <= 5; use++) expect(workspace.respond('r1', { response_type: 'in_channel', text: `${use}` })).toEqual({ ok: true });
    expect(workspace.respond('r1', { text: 'sixth' })).toEqual({ ok: false, error: 'used_up' });
  });
});
