import { describe, expect, it } from 'vitest';
import type { RequestView } from '../../../../src/services/request-view.ts';
import { approvalMessage } from '../../../../src/slack/blocks/approval-message.ts';
import { APPROVE, APPROVE_ALL, APPROVE_WITH_CHANGES, CANCEL, DENY, END_ACCESS, EXTEND_ACCESS, revisionOfApprovalBlock, revisionsOfBundleBlock } from '../../../../src/slack/blocks/ids.ts';
import { requestReceivedNotice } from '../../../../src/slack/blocks/requester-notices.ts';
import { INJECTION, INJECTION_ESCAPED, requestView } from '../../../helpers/request-view-fixture.ts';

type AnyBlock = { type: string; block_id?: string; elements?: Array<{ action_id?: string; value?: string }> };

/** A bundle of `count` items, the first the card's; `each` shapes item i. */
function bundle(count: number, each: (index: number) => Partial<RequestView> = () => ({})): RequestView {
  const items = Array.from({ length: count }, (_, index) =>
    requestView({ id: `6f1c2a4e-8b7d-4c3e-9a10-${String(index).padStart(12, '0')}`, resourceId: `db-${index}`, resourceName: `Database ${index}`, role: 'read', ...each(index) }),
  );
  return { ...items[0]!, bundle: { cardRequestId: items[0]!.id, items } };
}
const blocksOf = (view: RequestView, build = approvalMessage) => build(view).blocks as AnyBlock[];
const buttons = (blocks: readonly AnyBlock[]) => blocks.filter((block) => block.type === 'actions').flatMap((block) => (block.elements ?? []).map((element) => [element.action_id, element.value]));

describe('the approval card of a request for several resources', () => {
  it('lists every item with its own Approve, Approve with changes and Deny, then Approve all carrying the revisions shown', () => {
    const view = bundle(3, (index) => ({ revision: index + 1 }));
    const blocks = blocksOf(view);
    const ids = view.bundle!.items.map((item) => item.id);
    expect(buttons(blocks)).toEqual([
      ...ids.flatMap((id) => [[APPROVE, id], [APPROVE_WITH_CHANGES, id], [DENY, id]]),
      [APPROVE_ALL, ids[0]],
    ]);
    // Each item's buttons name its own revision; Approve all names all of them, in order.
    const itemBlocks = blocks.filter((block) => block.block_id?.startsWith('latch_approval_actions'));
    expect(itemBlocks.map((block) => revisionOfApprovalBlock(block.block_id))).toEqual([1, 2, 3]);
    expect(revisionsOfBundleBlock(blocks.find((block) => block.elements?.[0]?.action_id === APPROVE_ALL)?.block_id)).toEqual([1, 2, 3]);
  });

  it('keeps ten items within Slack\'s limits: 50 blocks, unique block ids, under the ~13k characters Slack refuses', () => {
    const long = 'x'.repeat(3000);
    const view = bundle(10, () => ({ reason: long, decisions: Array.from({ length: 5 }, (_, i) => ({ approverId: `U0APPROVER${i}`, decision: 'approve' as const, comment: long, at: new Date() })), requiredApprovals: 9 }));
    const blocks = blocksOf(view);
    expect(blocks.length).toBeLessThanOrEqual(50);
    const blockIds = blocks.map((block) => block.block_id).filter((id) => id !== undefined);
    expect(new Set(blockIds).size).toBe(blockIds.length);
    expect(JSON.stringify(blocks).length).toBeLessThan(13_000);
    for (const block of blocks as Array<{ text?: { text: string } }>) expect(block.text?.text.length ?? 0).toBeLessThanOrEqual(3000);
  });

  it('shows each item in its own state: no buttons on a decided item, Revoke now on an active one, no Approve all once one waits', () => {
    const view = bundle(2, (index) => (index === 0 ? { state: 'active', grant: { grantedAt: new Date(), expiresAt: new Date(), revokedAt: null, endedBy: null, overdueError: null } } : {}));
    const ids = view.bundle!.items.map((item) => item.id);
    expect(buttons(blocksOf(view))).toEqual([[END_ACCESS, ids[0]], [APPROVE, ids[1]], [APPROVE_WITH_CHANGES, ids[1]], [DENY, ids[1]]]);
  });

  it('escapes what people typed, shown once for all items', () => {
    const json = JSON.stringify(blocksOf(bundle(2, () => ({ reason: INJECTION, ticket: INJECTION }))));
    expect(json).toContain(INJECTION_ESCAPED);
    expect(json).not.toContain('<!channel>');
  });

  it('is the ordinary card for a bundle of one', () => {
    const view = bundle(1);
    expect(blocksOf(view)).toEqual(blocksOf({ ...view, bundle: null }));
  });
});

describe("the requester's confirmation of a request for several resources", () => {
  it('lists every item with where it stands and its own buttons, in blocks of their own', () => {
    const view = bundle(2, (index) => (index === 0 ? { state: 'active', grant: { grantedAt: new Date(), expiresAt: new Date(), revokedAt: null, endedBy: null, overdueError: null } } : {}));
    const blocks = blocksOf(view, requestReceivedNotice);
    const ids = view.bundle!.items.map((item) => item.id);
    expect(buttons(blocks)).toEqual([[END_ACCESS, ids[0]], [EXTEND_ACCESS, ids[0]], [CANCEL, ids[1]]]);
    const blockIds = blocks.map((block) => block.block_id).filter((id) => id !== undefined);
    expect(new Set(blockIds).size).toBe(blockIds.length);
    expect(JSON.stringify(blocks)).toContain('2 resources');
  });
});
