import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runLatch } from '../../helpers/latch-process.ts';

const EXAMPLE = fileURLToPath(new URL('../../../policy.example.yaml', import.meta.url));

describe('latch policy check', () => {
  it('accepts the shipped example, naming its resources', async () => {
    const result = await runLatch(['policy', 'check', EXAMPLE], {});
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/: valid; 3 resource\(s\): prod-db, oncall-admins, aws-prod-admin; version [0-9a-f]{12}\n$/);
  });

  it('exits 1 with every problem on its own line, with path and line number', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'latch-policy-')), 'policy.yaml');
    writeFileSync(file, ['resources:', '  - id: prod-db', '    name: Production', '    provider: { type: postgres }', '    roles: [read]', '    maxDuration: forever', '    aprovers: { users: [U0A] }', ''].join('\n'));
    const result = await runLatch(['policy', 'check', file], {});
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines[0]).toBe(`latch: ${file}: ${lines.length - 1} problem(s)`);
    expect(lines).toContainEqual(expect.stringMatching(/^latch: {3}resources\[0\]\.maxDuration: .* \(line 6\)$/));
    expect(lines).toContainEqual(expect.stringMatching(/^latch: {3}resources\[0\]: unknown field "aprovers"; did you mean "approvers"\? \(line 7\)$/));
  });

  it("names a bad setting of each provider type with its path and line, never quoting the value", async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'latch-policy-')), 'policy.yaml');
    writeFileSync(file, [
      'defaults:',
      '  maxDuration: 1h',
      '  approvalChannel: C0APPROVALS',
      'resources:',
      '  - id: db',
      '    name: Database',
      '    provider: { type: postgres, settings: { connectionStringEnv: "postgresql://grantor:Pa55word@db/app" } }',
      '    roles: [read]',
      '    approvers: { users: [U0ALICE01] }',
      '  - id: oncall',
      '    name: On call',
      '    provider: { type: slack-usergroup, settings: { usergroup: "@oncall" } }',
      '    roles: [member]',
      '    approvers: { users: [U0ALICE01] }',
      '  - id: hook',
      '    name: Hook',
      '    provider:',
      '      type: webhook',
      '      settings: { url: "https://hooks.example.com/latch", secretEnv: HOOK_SECRET, timeoutMs: 5s }',
      '    roles: [read]',
      '    approvers: { users: [U0ALICE01] }',
      '',
    ].join('\n'));
    const result = await runLatch(['policy', 'check', file], {});
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([
      `latch: ${file}: 3 problem(s)`,
      'latch:   resources[0].provider.settings.connectionStringEnv: must be the name of an environment variable (letters, digits and _), not the connection string itself (line 7)',
      "latch:   resources[1].provider.settings.usergroup: must be a Slack user group id such as S0123ABCD, not a handle like @oncall (Slack's usergroups.list method shows it) (line 12)",
      'latch:   resources[2].provider.settings.timeoutMs: must be a whole number of milliseconds from 100 to 60000 (line 19)',
    ]);
    expect(result.stderr).not.toContain('Pa55word');
  });

  it('names a bad setting of the mysql, aws-identity-center and github-team providers with its path and line, and refuses secrets in the file without quoting them', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'latch-policy-')), 'policy.yaml');
    writeFileSync(file, [
      'defaults:',
      '  maxDuration: 1h',
      '  approvalChannel: C0APPROVALS',
      'resources:',
      '  - id: orders',
      '    name: Orders',
      '    provider:',
      '      type: mysql',
      '      settings:',
      '        dialect: mysql5',
      '        connectionStringEnv: "mysql://grantor:Pa55word@db/orders"',
      '        roles: { read: orders_read }',
      '    roles: [read]',
      '    approvers: { users: [U0ALICE01] }',
      '  - id: aws-prod',
      '    name: AWS production',
      '    provider:',
      '      type: aws-identity-center',
      '      settings:',
      '        region: eu-west-1',
      '        instanceArn: arn:aws:sso:::instance/ssoins-1111222233334444',
      '        identityStoreId: d-1234567890',
      // Credentials come from the AWS chain (the environment), never from the file.
      '        secretAccessKey: wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY',
      '        roles:',
      '          admin: { accountId: "1111-2222-3333", permissionSetArn: arn:aws:sso:::permissionSet/ssoins-1111222233334444/ps-1111222233334444 }',
      '    roles: [admin]',
      '    approvers: { users: [U0ALICE01] }',
      '  - id: release',
      '    name: Release managers',
      '    provider:',
      '      type: github-team',
      '      settings:',
      '        org: example-org',
      '        team: Release Managers',
      '        tokenEnv: ghp_abcdefghijklmnopqrstuvwxyz0123456789',
      '    identity: { from: map-only, map: { U0ALICE01: octo-ada } }',
      '    roles: [member]',
      '    approvers: { users: [U0ALICE01] }',
      '',
    ].join('\n'));
    const result = await runLatch(['policy', 'check', file], {});
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([
      `latch: ${file}: 6 problem(s)`,
      'latch:   resources[0].provider.settings.dialect: must be "mariadb" or "mysql8": the server whose role syntax Latch speaks (line 10)',
      'latch:   resources[0].provider.settings.connectionStringEnv: must be the name of an environment variable (letters, digits and _), not the connection string itself (line 11)',
      'latch:   resources[1].provider.settings: unknown field "secretAccessKey" (line 23)',
      'latch:   resources[1].provider.settings.roles.admin.accountId: must be the 12-digit AWS account id (line 25)',
      'latch:   resources[2].provider.settings.team: must be a team slug such as platform-oncall (the last part of the team’s URL), not its display name (line 34)',
      'latch:   resources[2].provider.settings.tokenEnv: must be the name of an environment variable, not the token itself (line 35)',
    ]);
    for (const secret of ['Pa55word', 'wJalrXUtnFEMIK7MDENG', 'ghp_abcdefghijklmnop']) expect(result.stderr).not.toContain(secret);
  });

  it('reads LATCH_POLICY_FILE when no file is named', async () => {
    const result = await runLatch(['policy', 'check'], { LATCH_POLICY_FILE: EXAMPLE });
    expect(result.code).toBe(0);
  });
});
