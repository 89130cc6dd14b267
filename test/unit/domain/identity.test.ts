import { describe, expect, it } from 'vitest';
import { resolvePrincipal } from '../../../src/domain/identity.ts';
import type { IdentityPolicy } from '../../../src/domain/policy.ts';

const identity = (overrides: Partial<IdentityPolicy> = {}): IdentityPolicy => ({ map: {}, from: 'email', template: '{localpart}', ...overrides });
const ada = { id: 'U0ADA', email: 'Ada.Lovelace@Example.com' };

describe('resolvePrincipal', () => {
  it.each([
    ['the email local part, lower-cased', identity(), ada, 'ada.lovelace'],
    ['the whole email', identity({ template: '{email}' }), ada, 'ada.lovelace@example.com'],
    ['a template around it', identity({ template: 'jit_{localpart}_{domain}' }), ada, 'jit_ada.lovelace_example.com'],
    ['the Slack user id', identity({ from: 'slack-user-id' }), ada, 'U0ADA'],
    ['the map before anything else', identity({ map: { U0ADA: 'alovelace' } }), ada, 'alovelace'],
    ['the map, with map-only', identity({ from: 'map-only', map: { U0ADA: 'alovelace' } }), ada, 'alovelace'],
  ])('uses %s', (_name, policy, profile, principal) => {
    expect(resolvePrincipal(policy, 'Production database', profile)).toEqual({ ok: true, principal });
  });

  it.each([
    ['no email', identity(), { id: 'U0BOT' }, 'Latch cannot tell who you are on Production database: your Slack profile shows no email address.'],
    ['a malformed email', identity(), { id: 'U0X', email: 'not-an-email' }, 'Latch cannot tell who you are on Production database: your Slack profile shows no email address.'],
    ['no mapping under map-only', identity({ from: 'map-only' }), ada, "You have no account on Production database that Latch knows of: ask the policy's owners to map your Slack user."],
  ])('refuses with %s', (_name, policy, profile, message) => {
    expect(resolvePrincipal(policy, 'Production database', profile)).toEqual({ ok: false, message });
  });
});
