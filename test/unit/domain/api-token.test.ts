import { describe, expect, it } from 'vitest';
import { formatToken, hashTokenSecret, newTokenSecret, parseToken, secretMatches } from '../../../src/domain/api-token.ts';
import { isMachineRequester, machineIdOf, machineRequesterId } from '../../../src/domain/machine.ts';

const ID = '01a23de1-e0bd-7536-a4bf-976b9fdffbb6';

describe('API tokens', () => {
  it('carry a fixed prefix, the row id and a 256-bit secret, and read back to the same parts', () => {
    const { secret, secretHash } = newTokenSecret();
    const token = formatToken(ID, secret);
    expect(token).toMatch(/^latch_01a23de1e0bd7536a4bf976b9fdffbb6_[A-Za-z0-9_-]{43}$/);
    expect(parseToken(token)).toEqual({ id: ID, secret });
    expect(secretHash).toBe(hashTokenSecret(secret));
    expect(secretHash).not.toContain(secret);
  });

  it('never make the same secret twice', () => {
    const secrets = new Set(Array.from({ length: 100 }, () => newTokenSecret().secret));
    expect(secrets.size).toBe(100);
  });

  it('match only their own secret', () => {
    const { secret, secretHash } = newTokenSecret();
    expect(secretMatches(secret, secretHash)).toBe(true);
    expect(secretMatches(newTokenSecret().secret, secretHash)).toBe(false);
    expect(secretMatches(secret, 'not-hex')).toBe(false);
  });

  it.each(['', 'latch_', 'Bearer latch_x', `latch_${'g'.repeat(32)}_${'a'.repeat(43)}`, `latch_${'0'.repeat(32)}_${'a'.repeat(42)}`, `xoxb_${'0'.repeat(32)}_${'a'.repeat(43)}`])('refuse %j as a token', (text) => {
    expect(parseToken(text)).toBeNull();
  });
});

describe('machine requester ids', () => {
  it('cannot be mistaken for Slack ids, and give back the machine id', () => {
    expect(machineRequesterId('deploy-pipeline')).toBe('machine:deploy-pipeline');
    expect(machineIdOf('machine:deploy-pipeline')).toBe('deploy-pipeline');
    expect(machineIdOf('U0ALICE01')).toBeNull();
    expect(isMachineRequester('U0ALICE01')).toBe(false);
  });
});
