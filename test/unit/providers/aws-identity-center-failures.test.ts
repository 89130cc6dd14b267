import { describe, expect, it } from 'vitest';
import { sessionDurationSeconds } from '../../../src/providers/aws-identity-center/aws-identity-center-provider.ts';
import { classifyAwsError } from '../../../src/providers/aws-identity-center/failures.ts';

/** An error shaped as the AWS SDK v3 throws a service exception. */
const serviceError = (name: string, status: number, message = 'arn:aws:sso:::permissionSet/ssoins-secretish') =>
  Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });

describe('classifyAwsError', () => {
  it.each([
    ['ThrottlingException', 400],
    ['ConflictException', 409],
    ['InternalServerException', 500],
  ])('%s is transient', (name, status) => {
    expect(classifyAwsError(serviceError(name, status), 'grant')).toEqual({ kind: 'transient', message: expect.stringContaining(name) });
  });

  it.each([
    ['ResourceNotFoundException', 400],
    ['AccessDeniedException', 400],
    ['ValidationException', 400],
    ['ServiceQuotaExceededException', 402],
  ])('%s is permanent', (name, status) => {
    expect(classifyAwsError(serviceError(name, status), 'grant').kind).toBe('permanent');
  });

  it('sends people to the README when AWS refuses the grantor', () => {
    expect(classifyAwsError(serviceError('AccessDeniedException', 400), 'revoke').message).toContain('src/providers/aws-identity-center/README.md');
  });

  it('sorts unnamed errors by status and network errors by code', () => {
    expect(classifyAwsError(Object.assign(new Error('x'), { $metadata: { httpStatusCode: 503 } }), 'check').kind).toBe('transient');
    expect(classifyAwsError(Object.assign(new Error('x'), { $metadata: { httpStatusCode: 403 } }), 'check').kind).toBe('permanent');
    expect(classifyAwsError(Object.assign(new Error('socket'), { cause: { code: 'ECONNREFUSED' } }), 'check')).toEqual({
      kind: 'transient',
      message: expect.stringContaining('ECONNREFUSED'),
    });
  });

  it('never quotes AWS’s own message', () => {
    expect(classifyAwsError(serviceError('ValidationException', 400), 'grant').message).not.toContain('ssoins-secretish');
  });
});

describe('sessionDurationSeconds (a permission set\'s SessionDuration, ISO 8601)', () => {
  it.each([
    ['PT1H', 3600],
    ['PT12H', 43_200],
    ['PT90M', 5400],
    ['PT1H30M', 5400],
    ['PT15M', 900],
    ['PT3600S', 3600],
  ])('%s is %i seconds', (text, seconds) => {
    expect(sessionDurationSeconds(text)).toBe(seconds);
  });

  it.each(['', 'PT', 'P1D', '1H', 'PT1.5H', 'PT-1H', 'pt1h', 'PT1H ', 'PT99999H'])('%j is not one it reads', (text) => {
    expect(sessionDurationSeconds(text)).toBeNull();
  });
});
