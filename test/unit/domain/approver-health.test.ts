import { describe, expect, it } from 'vitest';
import {
  approverGroupsOf,
  expiriesByGroup,
  groupOfResource,
  isApproverHealthEmpty,
  mutualApprovals,
  quickApproversFirst,
  slowestFirst,
  type ApproverGroup,
  type GroupDecisionTimes,
} from '../../../src/domain/approver-health.ts';
import { testResource } from '../../helpers/test-policy.ts';

const dbas = { users: [], groups: ['S0DBAS'], required: 2, oneFrom: ['S0DBAS'] };
const security = { users: ['U0SEC1', 'U0SEC2'], groups: [], required: 1, oneFrom: [] };

const resources = [
  testResource({ id: 'prod-db', approvers: dbas }),
  testResource({ id: 'vault', approvers: security }),
  // The same people as vault, listed the other way round: the same rule.
  testResource({ id: 'kms', approvers: { ...security, users: ['U0SEC2', 'U0SEC1'] } }),
  // Same people, but two approvals: another rule.
  testResource({ id: 'root-ca', approvers: { ...security, required: 2 } }),
];

describe('approverGroupsOf', () => {
  it("gathers resources with the same approver rule into one group, in the policy's order", () => {
    const groups = approverGroupsOf(resources);
    expect(groups.map((group) => group.resourceIds)).toEqual([['prod-db'], ['vault', 'kms'], ['root-ca']]);
    expect(groups[1]!.approvers).toEqual(security);
  });

  it('has no groups for a policy without resources', () => {
    expect(approverGroupsOf([])).toEqual([]);
  });

  it('gives a resource the policy no longer has a group of its own, which says so', () => {
    const groups = approverGroupsOf(resources);
    expect(groupOfResource(groups, 'kms')).toBe(groups[1]);
    const removed = groupOfResource(groups, 'old-db');
    expect(removed).toEqual({ key: 'removed:old-db', approvers: null, resourceIds: ['old-db'] });
    expect(groups.some((group) => group.key === removed.key)).toBe(false);
  });
});

describe('slowestFirst', () => {
  const groups = approverGroupsOf(resources);
  const times = (group: ApproverGroup, medianSeconds: number, p90Seconds: number, decisions = 1): GroupDecisionTimes => ({ group, decisions, medianSeconds, p90Seconds });

  it('puts the slowest p90 first, then the slowest median, then the busiest', () => {
    const ordered = slowestFirst([times(groups[0]!, 60, 600), times(groups[1]!, 30, 3600), times(groups[2]!, 90, 600)], groups);
    expect(ordered.map((row) => row.group.resourceIds[0])).toEqual(['vault', 'root-ca', 'prod-db']);
  });

  it("breaks a full tie by the policy's order, with removed resources last", () => {
    const removed = groupOfResource(groups, 'old-db');
    const ordered = slowestFirst([times(removed, 5, 5), times(groups[2]!, 5, 5), times(groups[0]!, 5, 5)], groups);
    expect(ordered.map((row) => row.group.resourceIds[0])).toEqual(['prod-db', 'root-ca', 'old-db']);
  });
});

describe('quickApproversFirst', () => {
  it('lists only approvers with a quick approval, most first, a tie by the larger share, then by id', () => {
    const ordered = quickApproversFirst([
      { approverId: 'U0C', quick: 2, approvals: 10 },
      { approverId: 'U0A', quick: 0, approvals: 7 },
      { approverId: 'U0B', quick: 2, approvals: 2 },
      { approverId: 'U0E', quick: 1, approvals: 1 },
      { approverId: 'U0D', quick: 1, approvals: 1 },
    ]);
    expect(ordered.map((row) => row.approverId)).toEqual(['U0B', 'U0C', 'U0D', 'U0E']);
  });

  it('is empty when nobody approved quickly', () => {
    expect(quickApproversFirst([])).toEqual([]);
    expect(quickApproversFirst([{ approverId: 'U0A', quick: 0, approvals: 3 }])).toEqual([]);
  });
});

describe('mutualApprovals', () => {
  it('pairs two people who each approved the other, once, with the count each way', () => {
    const pairs = mutualApprovals([
      { approverId: 'U0BEN', requesterId: 'U0ANA', requests: 1 },
      { approverId: 'U0ANA', requesterId: 'U0BEN', requests: 3 },
      // One way only: not a pair.
      { approverId: 'U0ANA', requesterId: 'U0CARL', requests: 4 },
    ]);
    expect(pairs).toEqual([{ people: ['U0ANA', 'U0BEN'], approvals: [3, 1] }]);
  });

  it('never pairs a person with themselves, even when an edge says they approved their own request', () => {
    expect(mutualApprovals([{ approverId: 'U0ANA', requesterId: 'U0ANA', requests: 2 }])).toEqual([]);
    expect(
      mutualApprovals([
        { approverId: 'U0ANA', requesterId: 'U0ANA', requests: 2 },
        { approverId: 'U0ANA', requesterId: 'U0BEN', requests: 1 },
        { approverId: 'U0BEN', requesterId: 'U0ANA', requests: 1 },
      ]),
    ).toEqual([{ people: ['U0ANA', 'U0BEN'], approvals: [1, 1] }]);
  });

  it('is empty with no approvals, or with approvals that never go both ways', () => {
    expect(mutualApprovals([])).toEqual([]);
    expect(mutualApprovals([{ approverId: 'U0A', requesterId: 'U0B', requests: 5 }, { approverId: 'U0B', requesterId: 'U0C', requests: 5 }, { approverId: 'U0C', requesterId: 'U0A', requests: 5 }])).toEqual([]);
  });

  it('adds up an edge given in parts, and ignores a count of zero', () => {
    const pairs = mutualApprovals([
      { approverId: 'U0A', requesterId: 'U0B', requests: 1 },
      { approverId: 'U0A', requesterId: 'U0B', requests: 2 },
      { approverId: 'U0B', requesterId: 'U0A', requests: 1 },
      { approverId: 'U0C', requesterId: 'U0D', requests: 1 },
      { approverId: 'U0D', requesterId: 'U0C', requests: 0 },
    ]);
    expect(pairs).toEqual([{ people: ['U0A', 'U0B'], approvals: [3, 1] }]);
  });

  it('orders pairs by approvals between them, then the most evenly traded, then by ids', () => {
    const both = (a: string, b: string, ab: number, ba: number) => [
      { approverId: a, requesterId: b, requests: ab },
      { approverId: b, requesterId: a, requests: ba },
    ];
    const pairs = mutualApprovals([...both('U0E', 'U0F', 1, 1), ...both('U0C', 'U0D', 3, 1), ...both('U0A', 'U0B', 2, 2), ...both('U0H', 'U0G', 1, 1)]);
    expect(pairs.map((pair) => pair.people)).toEqual([
      ['U0A', 'U0B'],
      ['U0C', 'U0D'],
      ['U0E', 'U0F'],
      ['U0G', 'U0H'],
    ]);
    expect(pairs[3]!.approvals).toEqual([1, 1]);
  });
});

describe('expiriesByGroup', () => {
  const groups = approverGroupsOf(resources);

  it('gathers expiries per approver group with each resource, most first', () => {
    const byGroup = expiriesByGroup(
      [
        { resourceId: 'kms', requests: 1 },
        { resourceId: 'prod-db', requests: 2 },
        { resourceId: 'vault', requests: 2 },
        { resourceId: 'old-db', requests: 1 },
      ],
      groups,
    );
    expect(byGroup.map((entry) => [entry.group.resourceIds, entry.total, entry.resources])).toEqual([
      [['vault', 'kms'], 3, [{ resourceId: 'vault', requests: 2 }, { resourceId: 'kms', requests: 1 }]],
      [['prod-db'], 2, [{ resourceId: 'prod-db', requests: 2 }]],
      [['old-db'], 1, [{ resourceId: 'old-db', requests: 1 }]],
    ]);
  });

  it('is empty when nothing expired', () => {
    expect(expiriesByGroup([], groups)).toEqual([]);
    expect(expiriesByGroup([{ resourceId: 'vault', requests: 0 }], groups)).toEqual([]);
  });
});

describe('isApproverHealthEmpty', () => {
  const empty = { rubberStampUnderSeconds: 10, decisionTimes: [], quickApprovers: [], mutualApprovals: [], expiredUndecided: { total: 0, byGroup: [] } };

  it('is empty with nothing to say, and not once anything expired undecided', () => {
    expect(isApproverHealthEmpty(empty)).toBe(true);
    const group = approverGroupsOf(resources)[0]!;
    expect(isApproverHealthEmpty({ ...empty, expiredUndecided: { total: 1, byGroup: [{ group, total: 1, resources: [{ resourceId: 'prod-db', requests: 1 }] }] } })).toBe(false);
  });
});
