import { describe, expect, it } from 'vitest';
import { digestMessage } from '../../../../src/slack/blocks/digest-message.ts';
import type { BreakGlassUse, DigestReport } from '../../../../src/services/compute-digest.ts';

const since = new Date('2026-11-23T09:00:00Z');
const until = new Date('2026-11-24T09:00:00Z');

function report(breakGlass: BreakGlassUse[]): DigestReport {
  return {
    since,
    until,
    requestsByState: { revoked: breakGlass.length },
    requestsTotal: breakGlass.length,
    approvedByPolicy: breakGlass.length,
    approvedByPeople: 0,
    denied: 0,
    breakGlass,
    activeGrants: 0,
    longestActive: [],
    lateRevocations: 0,
    failedRevocationAttempts: 0,
    overdueNow: 0,
    revocationsByProvider: [],
    standingAccess: [],
    decisionLatency: null,
    topRequesters: [],
    topResources: [],
    chainHead: { seq: 42n, hash: 'ab'.repeat(32) },
  };
}

function use(index: number, reviewed: boolean): BreakGlassUse {
  return {
    requestId: `r${index}`,
    requesterId: `U0USER${String(index).padStart(4, '0')}`,
    resourceId: 'prod-db',
    role: 'admin',
    at: new Date(since.getTime() + index * 60_000),
    reviewedBy: reviewed ? 'U0SECLEAD' : null,
    reviewDueAt: reviewed ? null : new Date(until.getTime() + 3_600_000),
  };
}

const sectionTexts = (message: ReturnType<typeof digestMessage>) =>
  (message.blocks as Array<{ type: string; text?: { text: string } }>).filter((block) => block.type === 'section').map((block) => block.text!.text);

describe('digestMessage', () => {
  it('lists every break-glass use of a quiet day, the unreviewed first', () => {
    const message = digestMessage('daily', report([use(1, true), use(2, false), use(3, true)]));
    const breakGlass = sectionTexts(message).find((text) => text.startsWith('*Break-glass*'))!;
    const lines = breakGlass.split('\n');
    expect(lines[0]).toBe('*Break-glass*: 3');
    expect(lines).toHaveLength(4);
    expect(lines[1]).toContain('<@U0USER0002>');
    expect(lines[1]).toContain('*not reviewed*');
    expect(breakGlass).not.toContain('more:');
  });

  it('fits a busy day in Slack\'s 3000 characters with whole lines, and says how many it left out', () => {
    const uses = Array.from({ length: 200 }, (_, index) => use(index, index % 10 !== 0));
    const breakGlass = sectionTexts(digestMessage('daily', report(uses))).find((text) => text.startsWith('*Break-glass*'))!;
    expect(breakGlass.length).toBeLessThanOrEqual(3000);
    const lines = breakGlass.split('\n');
    expect(lines[0]).toBe('*Break-glass*: 200');
    const listed = lines.slice(1, -1);
    // Every listed line is whole (it ends as a use does), and the last says how many are missing.
    for (const line of listed) expect(line).toMatch(/^• <@U0USER\d{4}>: `admin` on `prod-db`, .*(reviewed by <@U0SECLEAD>|\*not reviewed\* \(due .*\))$/);
    expect(lines.at(-1)).toBe(`…and ${200 - listed.length} more: \`latch audit export\` lists them all`);
    // The 20 unreviewed uses all made it, ahead of the reviewed ones.
    expect(listed.slice(0, 20).every((line) => line.includes('not reviewed'))).toBe(true);
  });

  it('posts the chain head as the anchor `latch audit verify --anchor` takes', () => {
    const blocks = digestMessage('daily', report([use(1, true)])).blocks as Array<{ type: string; elements?: Array<{ text: string }> }>;
    const anchor = blocks.filter((block) => block.type === 'context').at(-1)!.elements![0]!.text;
    expect(anchor).toContain(`event 42, \`${'ab'.repeat(32)}\``);
    expect(anchor).toContain(`\`latch audit verify --anchor 42:${'ab'.repeat(32)}\``);
  });
});

describe('digestMessage with scoped access', () => {
  it('says what of the role a break-glass use and a long grant were for', () => {
    const scoped = { ...use(1, false), role: 'debug', scope: { customer: ['4711'] } };
    const longest = { requesterId: 'U0ALICE', principal: 'alice', resourceId: 'support-db', role: 'debug', scope: { customer: ['4712'], tables: ['public.orders'] }, grantedAt: since, expiresAt: until };
    const text = JSON.stringify(digestMessage('daily', { ...report([scoped]), activeGrants: 1, longestActive: [longest] }));
    expect(text).toContain('`debug` (customer 4711) on');
    expect(text).toContain('`debug` (customer 4712 · tables public.orders) on');
  });
});
