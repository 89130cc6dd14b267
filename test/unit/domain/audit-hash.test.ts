import { describe, expect, it } from 'vitest';
import { auditHash, GENESIS_HASH, type AuditContent } from '../../../src/domain/audit-hash.ts';

const event: AuditContent = {
  seq: 1n,
  at: new Date('2026-11-24T10:00:00.000Z'),
  actor: 'U1',
  action: 'request.created',
  requestId: '0190f0e2-0000-7000-8000-000000000001',
  data: { resourceId: 'prod-db', role: 'read', durationSeconds: 7200 },
  prevHash: GENESIS_HASH,
};

describe('auditHash', () => {
  it('is a hex SHA-256 that does not depend on key order', () => {
    const hash = auditHash(event);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(auditHash({ ...event, data: { durationSeconds: 7200, role: 'read', resourceId: 'prod-db' } })).toBe(hash);
  });

  it.each([
    ['seq', { seq: 2n }],
    ['time', { at: new Date('2026-11-24T10:00:00.001Z') }],
    ['actor', { actor: 'U2' }],
    ['action', { action: 'request.cancelled' }],
    ['request', { requestId: null }],
    ['data', { data: { resourceId: 'prod-db', role: 'write', durationSeconds: 7200 } }],
    ['previous hash', { prevHash: 'f'.repeat(64) }],
  ])('changes when the %s changes', (_name, change) => {
    expect(auditHash({ ...event, ...change })).not.toBe(auditHash(event));
  });
});
