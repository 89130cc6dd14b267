import { describe, expect, it } from 'vitest';
import { canTransition, isFinal, REQUEST_STATES, type RequestState } from '../../../src/domain/request-state.ts';

const allowed: Array<[RequestState, RequestState]> = [
  ['pending', 'approved'],
  ['pending', 'denied'],
  ['pending', 'cancelled'],
  ['pending', 'expired'],
  ['approved', 'active'],
  ['approved', 'revoked'],
  ['approved', 'cancelled'],
  ['approved', 'failed'],
  ['active', 'revoked'],
  ['active', 'failed'],
];

describe('request state machine', () => {
  it('allows exactly the documented transitions', () => {
    const actual = REQUEST_STATES.flatMap((from) => REQUEST_STATES.filter((to) => canTransition(from, to)).map((to) => [from, to]));
    expect(actual).toEqual(allowed);
  });

  it.each([
    ['denied', 'approved'],
    ['expired', 'approved'],
    ['cancelled', 'pending'],
    ['pending', 'active'],
    ['revoked', 'active'],
  ] as Array<[RequestState, RequestState]>)('refuses %s → %s', (from, to) => {
    expect(canTransition(from, to)).toBe(false);
  });

  it('treats decided and ended requests as final', () => {
    expect(REQUEST_STATES.filter(isFinal)).toEqual(['revoked', 'denied', 'cancelled', 'expired', 'failed']);
  });
});
