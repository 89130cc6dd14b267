import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { auditHash, auditHashInputV2, GENESIS_HASH, type AuditContent } from '../../../src/domain/audit-hash.ts';

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

describe('hash formats', () => {
  it('hashes format 1 (events written before format 2) exactly as it always has', () => {
    // Computed by the format 1 code as it stood before format 2 existed: old chains keep verifying.
    expect(auditHash(event)).toBe(auditHash({ ...event, hashFormat: 1 }));
    expect(auditHash(event)).toBe('20f54767e7285be12be2bc8a046792da96e6f6b9ffc1a2a2ccf987a8b31cef61');
  });

  it('hashes format 2 as the event written the way PostgreSQL writes a jsonb array', () => {
    const input = auditHashInputV2({ ...event, data: { z: 1, aa: [1e21, 1.5e-7, -0.25], b: 'é"\n', é: null } });
    expect(input).toBe(
      `["latch-audit-v2", "1", "2026-11-24T10:00:00.000Z", "U1", "request.created", "0190f0e2-0000-7000-8000-000000000001", "${GENESIS_HASH}", ` +
        `{"b": "é\\"\\n", "z": 1, "aa": [1000000000000000000000, 0.00000015, -0.25], "é": null}]`,
    );
    expect(auditHash({ ...event, hashFormat: 2 })).toBe(createHash('sha256').update(auditHashInputV2(event)).digest('hex'));
    expect(auditHash({ ...event, hashFormat: 2 })).not.toBe(auditHash(event));
  });

  it('refuses a format it does not know', () => {
    expect(() => auditHash({ ...event, hashFormat: 3 })).toThrow('unknown audit hash format 3');
  });
});
