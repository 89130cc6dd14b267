import { describe, expect, it } from 'vitest';
import { askedRequestOf, asksTheSame, idempotencySubmissionKey, parseIdempotencyKey } from '../../../src/domain/idempotency-key.ts';

describe('Idempotency-Key', () => {
  it('takes printable ASCII keys up to 200 characters', () => {
    expect(parseIdempotencyKey('run-42/attempt 1:deploy')).toEqual({ ok: true, key: 'run-42/attempt 1:deploy' });
    expect(parseIdempotencyKey('k'.repeat(200)).ok).toBe(true);
  });

  it('refuses an empty key, a long one and one with control or non-ASCII characters, saying why', () => {
    expect(parseIdempotencyKey('')).toMatchObject({ ok: false, message: expect.stringMatching(/empty/) });
    expect(parseIdempotencyKey('k'.repeat(201))).toMatchObject({ ok: false, message: expect.stringMatching(/201 characters long: keep it to 200/) });
    for (const key of ['a\tb', 'a\u0000b', 'clé']) expect(parseIdempotencyKey(key)).toMatchObject({ ok: false, message: expect.stringMatching(/printable ASCII/) });
  });

  it("keeps one requester's keys apart from another's", () => {
    expect(idempotencySubmissionKey('machine:a', 'k')).not.toBe(idempotencySubmissionKey('machine:b', 'k'));
    // Nor can a key be chosen to look like another requester's.
    expect(idempotencySubmissionKey('machine:a', 'b:k')).not.toBe(idempotencySubmissionKey('machine:a:b', 'k'));
  });

  const stored = { resourceId: 'prod-db', role: 'read', durationSeconds: 900, reason: 'deploy 4f2a', ticket: null };
  const body = { resource: 'prod-db', role: 'read', duration: '15m', reason: 'deploy 4f2a' };

  it('treats the same request in other words as the same', () => {
    expect(asksTheSame(stored, body)).toBe(true);
    expect(asksTheSame(stored, { ...body, duration: '900s', reason: '  deploy 4f2a ', ticket: '  ' })).toBe(true);
  });

  it('tells any difference in what is asked', () => {
    for (const other of [{ resource: 'billing-db' }, { role: 'write' }, { duration: '16m' }, { duration: 'soon' }, { reason: 'deploy 4f2b' }, { ticket: 'OPS-1' }]) {
      expect(asksTheSame(stored, { ...body, ...other }), JSON.stringify(other)).toBe(false);
    }
  });

  it('compares a retry with what was asked, not with what an on-call rule cut it to or an approver narrowed it to', () => {
    const twoHours = { ...body, duration: '2h' };
    // An on-call rule cut two hours at the end of the shift, in 40 minutes.
    const cut = { ...stored, durationSeconds: 2400 };
    const cutEvents = { created: { role: 'read', durationSeconds: 2400 }, approved: { rule: 'on-call-read', askedSeconds: 7200 } };
    expect(asksTheSame(cut, twoHours)).toBe(false);
    expect(asksTheSame(askedRequestOf(cut, cutEvents), twoHours)).toBe(true);
    expect(asksTheSame(askedRequestOf(cut, cutEvents), { ...twoHours, duration: '40m' })).toBe(false);
    // An approver narrowed admin for two hours to read for 15 minutes.
    const narrowed = { ...stored, durationSeconds: 900 };
    const narrowedEvents = { created: { role: 'admin', durationSeconds: 7200 }, approved: { policyVersion: 'v1' } };
    expect(asksTheSame(askedRequestOf(narrowed, narrowedEvents), { ...twoHours, role: 'admin' })).toBe(true);
    expect(asksTheSame(askedRequestOf(narrowed, narrowedEvents), body)).toBe(false);
  });

  it('falls back to the row where the events say nothing readable', () => {
    for (const events of [{ created: null, approved: null }, { created: 'x', approved: [] }, { created: { role: 7, durationSeconds: '2h' }, approved: { askedSeconds: 1.5 } }]) {
      expect(askedRequestOf(stored, events), JSON.stringify(events)).toEqual(stored);
    }
  });
});
