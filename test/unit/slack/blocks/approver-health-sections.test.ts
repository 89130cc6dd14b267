import { describe, expect, it } from 'vitest';
import { approverGroupsOf, groupOfResource, type ApproverHealth } from '../../../../src/domain/approver-health.ts';
import type { DigestReport } from '../../../../src/services/compute-digest.ts';
import { approverHealthSections } from '../../../../src/slack/blocks/approver-health-sections.ts';
import { digestMessage } from '../../../../src/slack/blocks/digest-message.ts';
import { testResource } from '../../../helpers/test-policy.ts';

const groups = approverGroupsOf([
  testResource({ id: 'prod-db', approvers: { users: ['U0DBALEAD'], groups: ['S0DBAS'], required: 2, oneFrom: ['S0DBAS'] } }),
  testResource({ id: 'vault', approvers: { users: ['U0SEC1', 'U0SEC2'], groups: [], required: 1, oneFrom: [] } }),
  testResource({ id: 'kms', approvers: { users: ['U0SEC1', 'U0SEC2'], groups: [], required: 1, oneFrom: [] } }),
]);
const [dbas, security] = [groups[0]!, groups[1]!];

const nothing: ApproverHealth = { rubberStampUnderSeconds: 10, decisionTimes: [], quickApprovers: [], mutualApprovals: [], expiredUndecided: { total: 0, byGroup: [] } };

const full: ApproverHealth = {
  rubberStampUnderSeconds: 10,
  decisionTimes: [
    { group: dbas, decisions: 3, medianSeconds: 5, p90Seconds: 961 },
    { group: security, decisions: 1, medianSeconds: 3600, p90Seconds: 3600 },
  ],
  quickApprovers: [{ approverId: 'U0BEN', quick: 2, approvals: 2 }],
  mutualApprovals: [{ people: ['U0ANA', 'U0BEN'], approvals: [1, 2] }],
  expiredUndecided: {
    total: 3,
    byGroup: [
      { group: security, total: 2, resources: [{ resourceId: 'vault', requests: 1 }, { resourceId: 'kms', requests: 1 }] },
      { group: groupOfResource(groups, 'old-db'), total: 1, resources: [{ resourceId: 'old-db', requests: 1 }] },
    ],
  },
};

describe('approverHealthSections', () => {
  it('says nothing when there is nothing to say', () => {
    expect(approverHealthSections(nothing)).toEqual([]);
  });

  it('names each approver group as the policy does, with its resources and times', () => {
    const [times, quick, mutual, expired] = approverHealthSections(full);
    expect(times).toBe(
      [
        '*Time to decision by approver group*',
        '• <!subteam^S0DBAS>, <@U0DBALEAD> (2 approvals, one from <!subteam^S0DBAS>) for `prod-db`: median 5s, p90 16m over 3 decisions',
        '• <@U0SEC1>, <@U0SEC2> for `vault`, `kms`: median 1h, p90 1h over 1 decision',
      ].join('\n'),
    );
    expect(quick).toBe('*Approved within 10s of the request*: 2 approvals by 1 approver\n• <@U0BEN>: 2 of 2 approvals');
    expect(mutual).toBe("*Approving each other's requests*: 1 pair\n• <@U0ANA> approved 1 of <@U0BEN>'s requests, and <@U0BEN> 2 of <@U0ANA>'s");
    expect(expired).toBe(
      ['*Expired undecided*: 3 requests', '• <@U0SEC1>, <@U0SEC2>: 2 (`vault` 1, `kms` 1)', '• the approvers of `old-db` (no longer in the policy): 1 on `old-db`'].join('\n'),
    );
  });

  it('leaves out the parts with nothing to say', () => {
    const sections = approverHealthSections({ ...nothing, expiredUndecided: full.expiredUndecided });
    expect(sections).toHaveLength(1);
    expect(sections[0]).toMatch(/^\*Expired undecided\*/);
  });

  it('escapes ids and keeps every part short however many there are', () => {
    const hostile = '<!channel>&<https://evil|bank>';
    const many = approverGroupsOf(
      Array.from({ length: 40 }, (_, index) =>
        testResource({ id: `${hostile}-${'x'.repeat(200)}-${index}`, approvers: { users: Array.from({ length: 30 }, (__, user) => `U0USER${index}X${user}`), groups: [], required: 1, oneFrom: [] } }),
      ),
    );
    const sections = approverHealthSections({
      rubberStampUnderSeconds: 10,
      decisionTimes: many.map((group) => ({ group, decisions: 1, medianSeconds: 1, p90Seconds: 1 })),
      quickApprovers: Array.from({ length: 200 }, (_, index) => ({ approverId: `U0FAST${index}`, quick: 1, approvals: 1 })),
      mutualApprovals: Array.from({ length: 200 }, (_, index) => ({ people: [`U0A${index}`, `U0B${index}`] as [string, string], approvals: [1, 1] as [number, number] })),
      expiredUndecided: { total: 40, byGroup: many.map((group) => ({ group, total: 1, resources: [{ resourceId: group.resourceIds[0]!, requests: 1 }] })) },
    });
    expect(sections).toHaveLength(4);
    for (const section of sections) {
      expect(section.length).toBeLessThan(3000);
      expect(section).not.toContain('<!channel>');
      expect(section).not.toContain('<https://');
      // Five lines, then how many were left out.
      expect(section.split('\n')).toHaveLength(7);
    }
    expect(sections[0]).toContain('&lt;!channel&gt;&amp;&lt;https://evil|bank&gt;');
    expect(sections[0]!.split('\n')[1]).toContain('+26 more');
    expect(sections[0]!.split('\n').at(-1)).toBe('…and 35 more groups');
    expect(sections[1]!.split('\n').at(-1)).toBe('…and 195 more approvers');
    expect(sections.join('').length).toBeLessThan(8000);
  });
});

describe('a digest with approver health', () => {
  const quiet: DigestReport = {
    since: new Date('2026-11-24T09:00:00Z'),
    until: new Date('2026-11-25T09:00:00Z'),
    requestsByState: {},
    requestsTotal: 0,
    approvedByPolicy: 0,
    approvedByPeople: 0,
    denied: 0,
    breakGlass: [],
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
    chainHead: null,
  };
  const sections = (health: ApproverHealth) =>
    (digestMessage('daily', quiet, health).blocks as Array<{ type: string; text?: { text: string } }>).filter((block) => block.type === 'section').map((block) => block.text!.text);

  it('is one quiet line when neither access nor approvers have anything to say', () => {
    expect(sections(nothing)).toEqual([expect.stringContaining('nothing to report')]);
  });

  it('is not quiet when a request made earlier expired undecided in the period', () => {
    const expiredOnly = { ...nothing, expiredUndecided: { total: 1, byGroup: [{ group: dbas, total: 1, resources: [{ resourceId: 'prod-db', requests: 1 }] }] } };
    const texts = sections(expiredOnly);
    expect(texts.join('\n')).not.toContain('nothing to report');
    expect(texts).toContain('*Expired undecided*: 1 request\n• <!subteam^S0DBAS>, <@U0DBALEAD> (2 approvals, one from <!subteam^S0DBAS>): 1 on `prod-db`');
  });
});
