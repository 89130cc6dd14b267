import { describe, expect, it } from 'vitest';
import { dialectStatements, killConnection, quoteAccount, quoteIdentifier } from '../../../src/providers/mysql/dialect.ts';

const alice = { user: 'alice', host: '%' };
const mariadb = dialectStatements('mariadb');
const mysql8 = dialectStatements('mysql8');

describe('mysql provider statements', () => {
  it('quotes every name as a backtick identifier, doubling a backtick inside, so a name cannot end the statement', () => {
    expect(quoteIdentifier('orders_read')).toBe('`orders_read`');
    expect(quoteIdentifier('a`b')).toBe('`a``b`');
    const hostile = { user: "x` TO `root`@`%`; DROP USER `root", host: '%' };
    expect(mariadb.grantRole(mariadb.role('r'), hostile)).toBe("GRANT `r` TO `x`` TO ``root``@``%``; DROP USER ``root`@`%`");
    expect(quoteAccount({ user: "o'brien", host: '10.0.%' })).toBe("`o'brien`@`10.0.%`");
  });

  it('MariaDB: grants and revokes a host-less role, and sets the one default role FOR the account', () => {
    const role = mariadb.role('orders_read');
    expect(mariadb.grantRole(role, alice)).toBe('GRANT `orders_read` TO `alice`@`%`');
    expect(mariadb.revokeRole(role, alice)).toBe('REVOKE `orders_read` FROM `alice`@`%`');
    expect(mariadb.setDefaultRoles(alice, [role])).toBe('SET DEFAULT ROLE `orders_read` FOR `alice`@`%`');
    expect(mariadb.setDefaultRoles(alice, [])).toBe('SET DEFAULT ROLE NONE FOR `alice`@`%`');
    expect(() => mariadb.setDefaultRoles(alice, [role, mariadb.role('other')])).toThrow(/one default role/);
  });

  it('MySQL 8: roles are accounts at %, and SET DEFAULT ROLE ... TO replaces the whole list', () => {
    const role = mysql8.role('orders_read');
    expect(mysql8.grantRole(role, alice)).toBe('GRANT `orders_read`@`%` TO `alice`@`%`');
    expect(mysql8.revokeRole(role, alice)).toBe('REVOKE `orders_read`@`%` FROM `alice`@`%`');
    expect(mysql8.setDefaultRoles(alice, [mysql8.role('a'), role])).toBe('SET DEFAULT ROLE `a`@`%`, `orders_read`@`%` TO `alice`@`%`');
    expect(mysql8.setDefaultRoles(alice, [])).toBe('SET DEFAULT ROLE NONE TO `alice`@`%`');
  });

  it('keeps the other default roles on MySQL 8, and replaces the one on MariaDB', () => {
    const other = { name: 'billing_read', host: '%' };
    const role = mysql8.role('orders_read');
    expect(mysql8.defaultRolesAfterGrant([other], [other, role], role)).toEqual([other, role]);
    expect(mysql8.defaultRolesAfterGrant([other, role], [other, role], role)).toEqual([other, role]);
    expect(mysql8.defaultRolesAfterRevoke([other, role], [other], role)).toEqual([other]);
    const [billing, orders] = [mariadb.role('billing_read'), mariadb.role('orders_read')];
    expect(mariadb.defaultRolesAfterGrant([billing], [billing, orders], orders)).toEqual([orders]);
    expect(mariadb.defaultRolesAfterRevoke([orders], [billing], orders)).toEqual([]);
    expect(mariadb.defaultRolesAfterRevoke([billing], [billing], orders)).toEqual([billing]);
  });

  it('MySQL 8: leaves out a default role the account no longer holds, which SET DEFAULT ROLE would refuse', () => {
    const gone = { name: 'old_role', host: '%' };
    const role = mysql8.role('orders_read');
    expect(mysql8.defaultRolesAfterGrant([gone], [role], role)).toEqual([role]);
    expect(mysql8.setDefaultRoles({ user: 'alice', host: '%' }, mysql8.defaultRolesAfterRevoke([gone, role], [], role))).toBe('SET DEFAULT ROLE NONE TO `alice`@`%`');
  });

  it('reads each server’s own tables, with every name bound, never spliced', () => {
    const role = mariadb.role('orders_read');
    expect(mariadb.holdsRole(role, alice)).toEqual({ sql: expect.stringContaining('mysql.roles_mapping'), values: ['alice', '%', 'orders_read'] });
    expect(mysql8.holdsRole(mysql8.role('orders_read'), alice)).toEqual({ sql: expect.stringContaining('mysql.role_edges'), values: ['orders_read', '%', 'alice', '%'] });
    expect(mariadb.defaultRolesOf(alice).sql).toContain('default_role');
    expect(mysql8.defaultRolesOf(alice).sql).toContain('mysql.default_roles');
    expect(mysql8.holdersOf(mysql8.role('orders_read'))).toEqual({ sql: expect.stringContaining('mysql.role_edges'), values: ['orders_read', '%'] });
    for (const query of [mariadb.holdsRole(role, alice), mariadb.holdersOf(role), mariadb.accountFacts(alice), mysql8.accountFacts(alice), mysql8.adminRolesOf(alice)]) {
      expect(query.sql).not.toContain('alice');
      expect(query.sql).not.toContain('orders_read');
    }
  });

  it('kills a connection only by a whole number id', () => {
    expect(killConnection(42)).toBe('KILL CONNECTION 42');
    expect(() => killConnection(Number.NaN)).toThrow();
    expect(() => killConnection(1.5)).toThrow();
    expect(() => killConnection(-1)).toThrow();
  });
});
