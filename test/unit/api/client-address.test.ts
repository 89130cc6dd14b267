import { describe, expect, it } from 'vitest';
import { addressLimitKey, clientAddress } from '../../../src/api/client-address.ts';

const call = (peer: string | undefined, forwardedFor?: string | string[]) => ({
  socket: { remoteAddress: peer } as never,
  headers: forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor as string },
});

describe('the address a call came from', () => {
  it('is the TCP peer when no proxy is trusted, whatever X-Forwarded-For says', () => {
    expect(clientAddress(call('203.0.113.7', '198.51.100.1'), 0)).toBe('203.0.113.7');
  });

  it('is the entry the nearest proxy appended, behind one trusted proxy', () => {
    // The caller wrote 198.51.100.1 itself; the proxy appended the address it saw.
    expect(clientAddress(call('10.0.0.2', '198.51.100.1, 203.0.113.7'), 1)).toBe('203.0.113.7');
  });

  it('is the entry the outermost trusted proxy appended, behind two', () => {
    expect(clientAddress(call('10.0.0.3', '198.51.100.1, 203.0.113.7, 10.0.0.2'), 2)).toBe('203.0.113.7');
    expect(clientAddress(call('10.0.0.3', ['198.51.100.1, 203.0.113.7', '10.0.0.2']), 2)).toBe('203.0.113.7');
  });

  it('is the peer when the header is shorter than the proxies in front, missing, or not an address', () => {
    expect(clientAddress(call('10.0.0.3', '203.0.113.7'), 2)).toBe('10.0.0.3');
    expect(clientAddress(call('10.0.0.2'), 1)).toBe('10.0.0.2');
    expect(clientAddress(call('10.0.0.2', 'evil, not-an-address'), 1)).toBe('10.0.0.2');
    expect(clientAddress(call(undefined), 0)).toBe('unknown');
  });

  it('reads IPv6 entries', () => {
    expect(clientAddress(call('::1', '2001:db8::7'), 1)).toBe('2001:db8::7');
  });
});

describe('what a limit per address counts an address as', () => {
  it('counts an IPv6 address by its /64, however it is written', () => {
    expect(addressLimitKey('2001:db8:aa:1::1')).toBe('2001:db8:aa:1::/64');
    expect(addressLimitKey('2001:db8:aa:1:ffff:ffff:ffff:fffe')).toBe('2001:db8:aa:1::/64');
    expect(addressLimitKey('2001:0DB8:00aa:0001:0:0:0:9')).toBe('2001:db8:aa:1::/64');
    expect(addressLimitKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(addressLimitKey('::1')).toBe('0:0:0:0::/64');
    expect(addressLimitKey('2001:db8:aa:2::1')).not.toBe(addressLimitKey('2001:db8:aa:1::1'));
  });

  it('counts an IPv4 address as itself, also as a dual-stack socket writes it', () => {
    expect(addressLimitKey('198.51.100.7')).toBe('198.51.100.7');
    expect(addressLimitKey('::ffff:198.51.100.7')).toBe('198.51.100.7');
    expect(addressLimitKey('::ffff:c633:6407')).toBe('198.51.100.7');
    expect(addressLimitKey('::ffff:198.51.100.8')).not.toBe(addressLimitKey('::ffff:198.51.100.7'));
    expect(addressLimitKey('unknown')).toBe('unknown');
  });
});
