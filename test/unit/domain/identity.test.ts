import { describe, expect, it } from 'vitest';
import { accountRefusal, deciderAccountRefusal, reservedPrincipalRefusal, resolvePrincipal, templateKeepsDomain, type SlackAccount, type SlackProfile } from '../../../src/domain/identity.ts';
import type { IdentityPolicy } from '../../../src/domain/policy.ts';

const identity = (overrides: Partial<IdentityPolicy> = {}): IdentityPolicy => ({ map: {}, from: 'email', template: '{localpart}', domains: ['example.com'], ...overrides });
const member: SlackAccount = { deleted: false, bot: false, guest: false, emailConfirmed: true, ofLatchTeam: true };
const profile = (id: string, email?: string, account: Partial<SlackAccount> = {}): SlackProfile => ({ id, ...(email ? { email } : {}), account: { ...member, ...account } });
const ada = profile('U0ADA', 'Ada.Lovelace@Example.com');

describe('resolvePrincipal', () => {
  it.each([
    ['the email local part, lower-cased', identity(), ada, 'ada.lovelace'],
    ['the whole email', identity({ template: '{email}', domains: [] }), ada, 'ada.lovelace@example.com'],
    ['a template around it', identity({ template: 'jit_{localpart}_{domain}' }), ada, 'jit_ada.lovelace_example.com'],
    ['the Slack user id', identity({ from: 'slack-user-id' }), ada, 'U0ADA'],
    ['the map before anything else', identity({ map: { U0ADA: 'alovelace' } }), ada, 'alovelace'],
    ['the map, with map-only', identity({ from: 'map-only', map: { U0ADA: 'alovelace' } }), ada, 'alovelace'],
    ['one of several allowed domains', identity({ domains: ['corp.example', 'example.com'] }), ada, 'ada.lovelace'],
    ['a guest, when the policy allows guests', identity({ allowGuests: true }), profile('U0ADA', 'ada@example.com', { guest: true }), 'ada'],
  ])('uses %s', (_name, policy, who, principal) => {
    expect(resolvePrincipal(policy, 'Production database', who)).toEqual({ ok: true, principal });
  });

  it.each([
    ['no email', identity(), profile('U0BOT'), 'Latch cannot tell who you are on Production database: your Slack profile shows no email address.'],
    ['a malformed email', identity(), profile('U0X', 'not-an-email'), 'Latch cannot tell who you are on Production database: your Slack profile shows no email address.'],
    ['no mapping under map-only', identity({ from: 'map-only' }), ada, "You have no account on Production database that Latch knows of: ask the policy's owners to map your Slack user."],
  ])('refuses with %s', (_name, policy, who, message) => {
    expect(resolvePrincipal(policy, 'Production database', who)).toEqual({ ok: false, message });
  });

  it('gives no identity to an email at a domain the policy does not list, whatever its local part', () => {
    // latch_grantor@anything once became the grantor role itself; svc_reporting@gmail.com a service account.
    for (const email of ['latch_grantor@anything.example', 'svc_reporting@gmail.com', 'ada@example.com.evil.example', 'ada@sub.example.com']) {
      expect(resolvePrincipal(identity(), 'Production database', profile('U0EVE', email))).toEqual({
        ok: false,
        message: `Latch cannot tell who you are on Production database: its accounts belong to @example.com addresses, and your Slack profile's email is at @${email.split('@')[1]}.`,
      });
    }
  });

  it('uses an email only once Slack has confirmed it', () => {
    expect(resolvePrincipal(identity(), 'Production database', profile('U0ADA', 'ada@example.com', { emailConfirmed: false }))).toEqual({
      ok: false,
      message: 'Latch cannot tell who you are on Production database: Slack has not confirmed the email address on your profile. Confirm it in Slack, then ask again.',
    });
    // Not asked when the email decides nothing.
    expect(resolvePrincipal(identity({ from: 'slack-user-id' }), 'Production database', profile('U0ADA', 'ada@example.com', { emailConfirmed: false }))).toEqual({ ok: true, principal: 'U0ADA' });
  });

  it.each<[string, Partial<SlackAccount>, string]>([
    ['deactivated', { deleted: true }, 'Your Slack account is deactivated: Latch gives it no access.'],
    ['a bot or an app', { bot: true }, 'Latch gives access to people only, and this Slack account is a bot or an app.'],
    ['of another team', { ofLatchTeam: false }, 'Your Slack account belongs to another workspace or organisation (Slack Connect): Latch gives access only to members of its own workspace.'],
    ['a guest', { guest: true }, 'Guests of this Slack workspace cannot request Production database.'],
  ])('refuses an account that is %s, under every identity source, the map included', (_name, account, message) => {
    for (const policy of [identity(), identity({ from: 'slack-user-id' }), identity({ from: 'map-only', map: { U0ADA: 'alovelace' } })]) {
      expect(resolvePrincipal(policy, 'Production database', profile('U0ADA', 'ada@example.com', account))).toEqual({ ok: false, message });
    }
  });
});

describe('accountRefusal', () => {
  it('lets a member of the workspace through, and a guest only where guests are allowed', () => {
    expect(accountRefusal(member, {}, 'X')).toBeNull();
    expect(accountRefusal({ ...member, guest: true }, { allowGuests: true }, 'X')).toBeNull();
    expect(accountRefusal({ ...member, guest: true }, { allowGuests: false }, 'X')).not.toBeNull();
    // Allowing guests never lets a deactivated guest or a bot in.
    expect(accountRefusal({ ...member, guest: true, deleted: true }, { allowGuests: true }, 'X')).not.toBeNull();
    expect(accountRefusal({ ...member, bot: true }, { allowGuests: true }, 'X')).not.toBeNull();
  });
});

describe('deciderAccountRefusal', () => {
  it('lets only a member of the workspace decide: never a guest, however a resource treats guests asking', () => {
    expect(deciderAccountRefusal(member)).toBeNull();
    expect(deciderAccountRefusal({ ...member, guest: true })).toBe('Guests of this Slack workspace cannot approve, deny or review requests: only its members can.');
    expect(deciderAccountRefusal({ ...member, deleted: true })).toBe('Your Slack account is deactivated: Latch gives it no access.');
    expect(deciderAccountRefusal({ ...member, bot: true })).toBe('Latch gives access to people only, and this Slack account is a bot or an app.');
    expect(deciderAccountRefusal({ ...member, ofLatchTeam: false })).toContain('belongs to another workspace or organisation');
    // Deciding needs no email: an unconfirmed one refuses nothing here.
    expect(deciderAccountRefusal({ ...member, emailConfirmed: false })).toBeNull();
  });
});

describe('templateKeepsDomain', () => {
  it.each([
    ['{localpart}', false],
    ['jit_{localpart}', false],
    ['{email}', true],
    ['{localpart}_{domain}', true],
  ])('%s → %s', (template, keeps) => {
    expect(templateKeepsDomain(template)).toBe(keeps);
  });
});

describe('reservedPrincipalRefusal', () => {
  const resource = { name: 'Production database', permanentHolders: ['svc_reporting'] };
  it('refuses a permanent holder, in any letter case, and nobody else', () => {
    expect(reservedPrincipalRefusal(resource, 'svc_reporting')).toBe(
      'Latch will not change the account "svc_reporting" on Production database: the policy lists it among the accounts that hold access there permanently (permanentHolders).',
    );
    expect(reservedPrincipalRefusal(resource, 'SVC_Reporting')).not.toBeNull();
    expect(reservedPrincipalRefusal(resource, 'ada')).toBeNull();
  });
});
