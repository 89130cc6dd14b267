import { describe, expect, it } from 'vitest';
import { approvalsRequired, tallyVotes, type Vote } from '../../../src/domain/approval-tally.ts';

const approve = (approverId: string): Vote => ({ approverId, decision: 'approve' });
const deny = (approverId: string): Vote => ({ approverId, decision: 'deny' });

describe('tallyVotes', () => {
  it.each([
    { votes: [], required: 1, expected: { outcome: 'pending', approvers: [], remaining: 1, missingGroups: [] } },
    { votes: [approve('U2')], required: 1, expected: { outcome: 'approved', approvers: ['U2'] } },
    { votes: [approve('U2')], required: 2, expected: { outcome: 'pending', approvers: ['U2'], remaining: 1, missingGroups: [] } },
    { votes: [approve('U2'), approve('U2')], required: 2, expected: { outcome: 'pending', approvers: ['U2'], remaining: 1, missingGroups: [] } },
    { votes: [approve('U2'), approve('U3')], required: 2, expected: { outcome: 'approved', approvers: ['U2', 'U3'] } },
    { votes: [approve('U2'), deny('U3')], required: 2, expected: { outcome: 'denied', deniedBy: 'U3' } },
    { votes: [approve('U2'), approve('U3'), deny('U4')], required: 2, expected: { outcome: 'denied', deniedBy: 'U4' } },
    { votes: [approve('U1')], required: 1, expected: { outcome: 'pending', approvers: [], remaining: 1, missingGroups: [] } },
  ])('$votes.length vote(s), $required required → $expected.outcome', ({ votes, required, expected }) => {
    expect(tallyVotes(votes, required, 'U1')).toEqual(expected);
  });

  describe('with one approval needed from each of some groups', () => {
    const fromGroup = (approverId: string, ...groups: string[]): Vote => ({ approverId, decision: 'approve', groups });
    it.each([
      { label: 'enough approvals but none from the group', votes: [approve('U2'), approve('U3')], expected: { outcome: 'pending', approvers: ['U2', 'U3'], remaining: 1, missingGroups: ['S0SEC'] } },
      { label: 'the group member first, one more needed', votes: [fromGroup('U2', 'S0SEC')], expected: { outcome: 'pending', approvers: ['U2'], remaining: 1, missingGroups: [] } },
      { label: 'two approvals, one from the group', votes: [approve('U2'), fromGroup('U3', 'S0SEC')], expected: { outcome: 'approved', approvers: ['U2', 'U3'] } },
      { label: 'the requester in the group does not count', votes: [fromGroup('U1', 'S0SEC'), approve('U2'), approve('U3')], expected: { outcome: 'pending', approvers: ['U2', 'U3'], remaining: 1, missingGroups: ['S0SEC'] } },
    ])('2 of N, one from S0SEC: $label', ({ votes, expected }) => {
      expect(tallyVotes(votes, 2, 'U1', ['S0SEC'])).toEqual(expected);
    });

    it('needs every listed group, one person may cover two', () => {
      expect(tallyVotes([fromGroup('U2', 'S0SEC')], 1, 'U1', ['S0SEC', 'S0DBA'])).toMatchObject({ outcome: 'pending', missingGroups: ['S0DBA'] });
      expect(tallyVotes([fromGroup('U2', 'S0SEC', 'S0DBA')], 1, 'U1', ['S0SEC', 'S0DBA'])).toEqual({ outcome: 'approved', approvers: ['U2'] });
    });
  });
});

describe('approvalsRequired', () => {
  it('asks one more approval of a flagged request only when the policy says so', () => {
    expect(approvalsRequired(1, true, 2)).toBe(2);
    expect(approvalsRequired(2, true, 1)).toBe(3);
    expect(approvalsRequired(1, true, 0)).toBe(1);
    expect(approvalsRequired(1, false, 3)).toBe(1);
  });
});
