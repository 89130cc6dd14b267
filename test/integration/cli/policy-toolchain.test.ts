import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runLatch } from '../../helpers/latch-process.ts';

const EXAMPLE_POLICY = fileURLToPath(new URL('../../../policy.example.yaml', import.meta.url));
const EXAMPLE_TESTS = fileURLToPath(new URL('../../../policy.tests.example.yaml', import.meta.url));

function testsFile(lines: string[]): string {
  const file = join(mkdtempSync(join(tmpdir(), 'latch-policy-tests-')), 'policy.tests.yaml');
  writeFileSync(file, [`policy: ${EXAMPLE_POLICY}`, 'cases:', ...lines, ''].join('\n'));
  return file;
}

describe('latch policy test', () => {
  it('passes the shipped example cases against the shipped example policy', async () => {
    const result = await runLatch(['policy', 'test', EXAMPLE_TESTS], {});
    expect(result.stdout).toContain('✓ an SRE reading production during office hours is approved by policy');
    expect(result.stdout.trim().split('\n').at(-1)).toBe('9 passed, 0 failed');
    expect(result.code).toBe(0);
  });

  it('exits 1 and shows what was expected beside what the policy does', async () => {
    const file = testsFile([
      '  - name: reads at night are approved by policy',
      '    request: { requester: U0ALICE01, groups: [S0ENGINEERS, S0SRE], resource: prod-db, role: read, duration: 30m, at: "2026-11-24T23:00:00+01:00" }',
      '    expect: { autoApprovedBy: read-in-office-hours }',
      '  - name: writes need two',
      '    request: { requester: U0ALICE01, groups: [S0ENGINEERS], resource: prod-db, role: write, duration: 30m }',
      '    expect: { approvals: 2, oneFrom: [S0DBAS] }',
    ]);
    const result = await runLatch(['policy', 'test', file], {});
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(
      [
        '  ✗ reads at night are approved by policy',
        '      expected: auto-approved by rule read-in-office-hours',
        '      actual:   needs 2 approvals, including one from S0DBAS (from U0DBALEAD1, U0DBALEAD2, members of S0DBAS; never the requester)',
        '  ✓ writes need two',
        '1 passed, 1 failed',
      ].join('\n'),
    );
    expect(result.stderr).toBe('latch: 1 policy test case(s) failed\n');
  });

  it('names each mistake in the tests file by its path', async () => {
    const file = testsFile(['  - name: typo', '    request: { requester: alice, resource: prod-db, role: read, duration: 30m }', '    expect: { approved: true }']);
    const result = await runLatch(['policy', 'test', file], {});
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('cases[0].request.requester: must be a Slack user id such as U012ABCDEF');
    expect(result.stderr).toContain('cases[0].expect: must be one of: refused: true');
  });
});

describe('latch policy explain', () => {
  it('takes scope values, and counts the approvers a scope adds', async () => {
    const result = await runLatch(['policy', 'explain', 'U0ALICE01', 'prod-db', 'support', '30m', '--groups', 'S0ENGINEERS', '--scope', 'customer=4711,4712', '--scope', 'tables=public.payments', '--file', EXAMPLE_POLICY], {});
    expect(result.stdout).toContain('asks for support (customer 4711, 4712 · tables public.payments) on prod-db for 30m:');
    expect(result.stdout).toContain('needs 3 approvals, including one from S0DBAS');
    expect(result.code).toBe(0);
    const refused = await runLatch(['policy', 'explain', 'U0ALICE01', 'prod-db', 'support', '30m', '--groups', 'S0ENGINEERS', '--scope', 'tables=public.secrets', '--file', EXAMPLE_POLICY], {});
    expect(refused.stdout).toContain('refused: Give customer: the role support is only granted for a customer matching [0-9]{1,10}. tables: public.secrets is not one of public.orders, public.invoices, public.payments.');
    expect(refused.code).toBe(1);
  });

  it('names the auto-approval rule that would approve a request', async () => {
    const result = await runLatch(
      ['policy', 'explain', 'U0ALICE01', 'prod-db', 'read', '30m', '--groups', 'S0ENGINEERS,S0SRE', '--at', '2026-11-24T10:00:00+01:00', '--file', EXAMPLE_POLICY],
      {},
    );
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('U0ALICE01, in S0ENGINEERS, S0SRE, asks for read on prod-db for 30m:\n  auto-approved by rule read-in-office-hours\n');
    expect(result.stdout).toContain('read-in-office-hours: applies');
    // An on-call rule cannot be judged from the files alone: it says what it would ask PagerDuty.
    expect(result.stdout).toContain('read-when-on-call: does not apply: it needs someone on call now for schedule PSCHED01, escalation policy PPOL001 (levels 1–2) in PagerDuty, which Latch asks only when a request is made');
    expect(result.stdout).toContain('a ticket matching ^(INC|CHG)-\\d+$');
  });

  it('says who must approve, and why each rule does not apply', async () => {
    const result = await runLatch(['policy', 'explain', 'U0ALICE01', 'prod-db', 'write', '30m', '--groups', 'S0ENGINEERS', '--file', EXAMPLE_POLICY], {});
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('needs 2 approvals, including one from S0DBAS (from U0DBALEAD1, U0DBALEAD2, members of S0DBAS; never the requester)');
    expect(result.stdout).toContain('read-in-office-hours: does not apply: it covers only read');
  });

  it('exits 1 with the reasons a request would be refused', async () => {
    const result = await runLatch(['policy', 'explain', 'U0MARKETING', 'prod-db', 'write', '3h', '--file', EXAMPLE_POLICY], {});
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('refused: You may not request access to Production database: the policy does not list you as a requester. At most 1h for write on Production database.');
    expect(result.stderr).toBe('latch: the policy would refuse this request\n');
  });
});
