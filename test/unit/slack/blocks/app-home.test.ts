import { describe, expect, it } from 'vitest';
import type { HomeData } from '../../../../src/services/load-home.ts';
import { appHome } from '../../../../src/slack/blocks/app-home.ts';
import { CANCEL, END_ACCESS, EXTEND_ACCESS } from '../../../../src/slack/blocks/ids.ts';
import type { AccessRequest, Grant } from '../../../../src/store/generated/client.ts';

const at = new Date('2026-11-24T10:00:00Z');
function request(index: number, overrides: Partial<AccessRequest> = {}): AccessRequest {
  return {
    id: `01900000-0000-7000-8000-${String(index).padStart(12, '0')}`,
    requesterSlackId: 'U0ALICE',
    slackTeamId: null,
    resourceId: 'prod-db',
    role: 'read',
    principal: 'alice',
    durationSeconds: 3600,
    startsAt: null,
    extendsRequestId: null,
    submissionKey: null,
    reason: 'work <!channel>',
    ticket: null,
    state: 'pending',
    breakGlass: false,
    revision: 1,
    requiredApprovals: 1,
    requiredGroups: [],
    policyVersion: null,
    decidedByRule: null,
    approvalChannelId: null,
    approvalMessageTs: null,
    requesterChannelId: null,
    requesterMessageTs: null,
    pendingExpiresAt: null,
    decidedAt: null,
    endedAt: null,
    outcomeReason: null,
    reviewDueAt: null,
    riskFlags: [],
    onCallNote: null,
    scope: null,
    bundleId: null,
    bundlePosition: null,
    reviewedBySlackId: null,
    reviewedAt: null,
    securityMessageTs: null,
    messagesSeq: null,
    lastRemindedAt: null,
    escalatedAt: null,
    createdAt: at,
    updatedAt: at,
    ...overrides,
  };
}
const grant = { expiresAt: new Date('2026-11-24T12:00:00Z') } as Grant;

describe('appHome', () => {
  const full: HomeData = {
    userId: 'U0ALICE',
    active: Array.from({ length: 10 }, (_, i) => ({ ...request(i, { state: 'active' }), grant })),
    pending: Array.from({ length: 10 }, (_, i) => request(100 + i)),
    awaiting: Array.from({ length: 10 }, (_, i) => request(200 + i, { requesterSlackId: 'U0BOB' })),
    recent: Array.from({ length: 10 }, (_, i) => request(300 + i, { state: 'revoked', endedAt: at })),
  };

  it('fits in the 100 blocks of a view, with every block id unique', () => {
    const { blocks } = appHome(full, () => 'Production database');
    expect(blocks.length).toBeLessThanOrEqual(100);
    const ids = blocks.flatMap((block) => ('block_id' in block && block.block_id ? [block.block_id] : []));
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('offers I am done and more time on active access, and escapes what people wrote', () => {
    const view = JSON.stringify(appHome(full, () => 'Production database'));
    expect(view).toContain(`"action_id":"${END_ACCESS}"`);
    expect(view).toContain(`"action_id":"${EXTEND_ACCESS}"`);
    expect(view).not.toContain('<!channel>');
  });

  it('says until when sessions may still work where the target lets them outlive the access, and nothing more elsewhere', () => {
    const lagged = { ...request(1, { state: 'active' }), grant: { expiresAt: new Date('2026-11-24T12:00:00Z'), revokedAt: null, effectiveEndLagSeconds: 3600 } as Grant };
    const plainGrant = { ...request(2, { state: 'active' }), grant: { expiresAt: new Date('2026-11-24T12:00:00Z'), revokedAt: null, effectiveEndLagSeconds: null } as Grant };
    const sections = (active: HomeData['active']) => JSON.stringify(appHome({ userId: 'U0ALICE', active, pending: [], awaiting: [], recent: [] }, () => 'AWS production'));
    // 12:00 + 1h = 13:00 UTC.
    expect(sections([lagged])).toContain(`; sessions already started can work until <!date^${Date.parse('2026-11-24T13:00:00Z') / 1000}^`);
    expect(sections([plainGrant])).not.toContain('sessions');
  });

  it('offers Cancel on access approved for a later start that Latch has not begun granting', () => {
    const startsAt = new Date('2026-11-24T22:00:00Z');
    const booked = { ...request(1, { state: 'approved', startsAt, decidedByRule: 'short-reads' }), grant: null };
    const granting = { ...request(2, { state: 'approved', startsAt }), grant: { expiresAt: null } as Grant };
    const { blocks } = appHome({ userId: 'U0ALICE', active: [booked, granting], pending: [], awaiting: [], recent: [] }, () => 'Production database');
    const view = JSON.stringify(blocks);
    expect(view).toContain(`from <!date^${startsAt.getTime() / 1000}^`);
    const cancels = blocks.flatMap((block) => (block.type === 'actions' ? (block as { elements: Array<{ action_id?: string }> }).elements : [])).filter((element) => element.action_id === CANCEL);
    expect(cancels).toEqual([expect.objectContaining({ value: booked.id })]);
  });

  it('says so when there is nothing to show', () => {
    const view = JSON.stringify(appHome({ userId: 'U0X', active: [], pending: [], awaiting: [], recent: [] }, (id) => id));
    expect(view).toContain('You hold no access through Latch right now.');
    expect(view).toContain('Nothing waits for you.');
  });
});

describe('appHome with scoped access', () => {
  it('shows the scope after the role, escaped', () => {
    const scoped = { ...request(1, { state: 'active', role: 'debug', scope: { customer: ['4711'], note: ['<!here>'] } }), grant };
    const view = JSON.stringify(appHome({ userId: 'U0ALICE', active: [scoped], pending: [], awaiting: [], recent: [] }, () => 'Support database'));
    expect(view).toContain('`debug` (customer 4711 · note &lt;!here&gt;) on *Support database*');
    expect(view).not.toContain('<!here>');
  });
});
