import { describe, expect, it } from 'vitest';
import { createMysqlProvider } from '../../../src/providers/mysql/mysql-provider.ts';
import { parseMysqlSettings } from '../../../src/providers/mysql/settings.ts';
import { parsePolicy } from '../../../src/config/policy-file.ts';
import { classifyMysqlError } from '../../../src/providers/mysql/failures.ts';

const problemsOf = (settings: Record<string, unknown>) => {
  const parsed = parseMysqlSettings(settings);
  return parsed.ok ? [] : parsed.problems;
};

describe('mysql provider settings', () => {
  it('takes a dialect and the name of the variable holding the connection string, with defaults for the rest', () => {
    expect(parseMysqlSettings({ dialect: 'mariadb', connectionStringEnv: 'ORDERS_DB_URL' })).toEqual({
      ok: true,
      settings: { dialect: 'mariadb', connectionStringEnv: 'ORDERS_DB_URL', accountHost: '%', terminateSessions: true },
    });
  });

  it('names each bad setting by its path, without quoting what was written', () => {
    const secretUrl = 'mysql://latch_grantor:hunter2@db/orders';
    const problems = problemsOf({ dialect: 'postgres', connectionStringEnv: secretUrl, accountHost: '', roles: { read: '', admin: 'x'.repeat(81) }, terminateSessions: 'yes', colour: 'blue' });
    expect(problems).toEqual([
      'settings.dialect: must be "mariadb" or "mysql8": the server whose role syntax Latch speaks',
      'settings.connectionStringEnv: must be the name of an environment variable (letters, digits and _), not the connection string itself',
      'settings.accountHost: is empty: use "%" for accounts that may connect from any host',
      'settings.roles.read: is empty',
      "settings.roles.admin: is longer than 80 characters, the server's limit for a user or role name",
      'settings.terminateSessions: must be true or false',
      'settings.colour: is not a mysql setting (known: dialect, connectionStringEnv, accountHost, roles, terminateSessions)',
    ]);
    expect(problems.join('\n')).not.toContain('hunter2');
  });

  it('holds role names to the limit of the dialect: 32 characters on MySQL 8, 80 on MariaDB', () => {
    const name = 'r'.repeat(33);
    expect(problemsOf({ dialect: 'mariadb', connectionStringEnv: 'U', roles: { read: name } })).toEqual([]);
    expect(problemsOf({ dialect: 'mysql8', connectionStringEnv: 'U', roles: { read: name } })).toEqual([
      "settings.roles.read: is longer than 32 characters, the server's limit for a user or role name",
    ]);
    expect(problemsOf({ dialect: 'mariadb', connectionStringEnv: 'U', roles: { read: 'a\0b' } })).toEqual(['settings.roles.read: contains a NUL character']);
  });

  it('reaches `latch policy check` with the setting’s path in the policy file and its line', () => {
    const text = [
      'resources:',
      '  - id: orders-db',
      '    name: Orders',
      '    provider:',
      '      type: mysql',
      '      settings:',
      '        dialect: mysql',
      '        connectionStringEnv: ORDERS_DB_URL',
      '        roles: { read: "" }',
      '    identity: { domains: [example.com] }',
      '    roles: [read]',
      '    maxDuration: 1h',
      '    approvers: { users: [U0A] }',
      '    approvalChannel: C0A',
      '',
    ].join('\n');
    const parsed = parsePolicy(text);
    expect(parsed.ok ? [] : parsed.problems).toEqual([
      'resources[0].provider.settings.dialect: must be "mariadb" or "mysql8": the server whose role syntax Latch speaks (line 7)',
      'resources[0].provider.settings.roles.read: is empty (line 9)',
    ]);
  });

  it('is built only with its connection string set, and a mysql:// one', () => {
    const settings = { dialect: 'mariadb', connectionStringEnv: 'ORDERS_DB_URL' };
    expect(createMysqlProvider(settings, {})).toEqual({ ok: false, problems: ['settings.connectionStringEnv: ORDERS_DB_URL is not set'] });
    expect(createMysqlProvider(settings, { ORDERS_DB_URL: ' ' })).toEqual({ ok: false, problems: ['settings.connectionStringEnv: ORDERS_DB_URL is not set'] });
    const wrong = createMysqlProvider(settings, { ORDERS_DB_URL: 'postgresql://u:hunter2@db/x' });
    expect(wrong).toEqual({ ok: false, problems: [expect.stringMatching(/^settings\.connectionStringEnv: ORDERS_DB_URL is not a mysql:\/\/ connection string/)] });
    expect(JSON.stringify(wrong)).not.toContain('hunter2');
  });
});

describe('mysql provider failures', () => {
  const context = { operation: 'grant', role: 'orders_read', principal: 'alice', connectionStringEnv: 'ORDERS_DB_URL' };
  const serverError = (errno: number, message = 'from the server') => Object.assign(new Error(message), { errno, sqlState: 'HY000', code: 'ER_X' });

  it('is permanent when retrying cannot help: names missing, credentials or privileges refused', () => {
    expect(classifyMysqlError(serverError(1959), { ...context, missing: 'role' })).toEqual({ kind: 'permanent', message: 'role "orders_read" does not exist on the target (error 1959)' });
    expect(classifyMysqlError(serverError(3523), context).kind).toBe('permanent');
    expect(classifyMysqlError(serverError(1133), { ...context, missing: 'principal' }).message).toBe('account "alice" does not exist on the target (error 1133)');
    expect(classifyMysqlError(serverError(1045), context)).toMatchObject({ kind: 'permanent', message: expect.stringContaining("refused the grantor's credentials") });
    for (const errno of [1044, 1142, 1227, 1095]) expect(classifyMysqlError(serverError(errno), context)).toMatchObject({ kind: 'permanent', message: expect.stringContaining('lacks a privilege') });
  });

  it('is transient when the server is unreachable, busy or timing out, and never quotes the error', () => {
    for (const errno of [1040, 1053, 1205, 1213, 1290, 1969, 9999]) expect(classifyMysqlError(serverError(errno, 'password hunter2'), context).kind).toBe('transient');
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:3306 hunter2'), { code: 'ECONNREFUSED', errno: -111 });
    expect(classifyMysqlError(refused, context)).toEqual({ kind: 'transient', message: 'cannot reach the database server in ORDERS_DB_URL (ECONNREFUSED); will retry' });
    expect(classifyMysqlError(Object.assign(new Error('lost'), { code: 'PROTOCOL_CONNECTION_LOST' }), context).kind).toBe('transient');
    expect(classifyMysqlError(new Error('hunter2'), context)).toEqual({ kind: 'transient', message: 'unexpected error during grant on the database server in ORDERS_DB_URL' });
  });
});
