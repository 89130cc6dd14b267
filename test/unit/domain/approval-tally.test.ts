import { describe, expect, it } from 'vitest';
import { tallyVotes, type Vote } from '../../../src/domain/approval-tally.ts';

const approve = (approverId: string): Vote => ({ approverId, decision: 'approve' });
const deny = (approverId: string): Vote => ({ approverId, decision: 'deny' });

describe('tallyVotes', () => {
  it.each([
    { votes: [], required: 1, expected: { outcome: 'pending', approvers: [], remaining: 1 } },
    { votes: [approve('U2')], required: 1, expected: { outcome: 'approved', approvers: ['U2'] } },
    { votes: [approve('U2')], required: 2, expected: { outcome: 'pending', approvers: ['U2'], remaining: 1 } },
    { votes: [approve('U2'), approve('U2')], required: 2, expected: { outcome: 'pending', approvers: ['U2'], remaining: 1 } },
    { votes: [approve('U2'), approve('U3')], required: 2, expected: { outcome: 'approved', approvers: ['U2', 'U3'] } },
    { votes: [approve('U2'), deny('U3')], required: 2, expected: { outcome: 'denied', deniedBy: 'U3' } },
    { votes: [approve('U2'), approve('U3'), deny('U4')], required: 2, expected: { outcome: 'denied', deniedBy: 'U4' } },
    { votes: [approve('U1')], required: 1, expected: { outcome: 'pending', approvers: [], remaining: 1 } },
  ])('$votes.length vote(s), $required required → $expected.outcome', ({ votes, required, expected }) => {
    expect(tallyVotes(votes, required, 'U1')).toEqual(expected);
  });
});
