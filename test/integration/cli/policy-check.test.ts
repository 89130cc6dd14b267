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

  it('reads LATCH_POLICY_FILE when no file is named', async () => {
    const result = await runLatch(['policy', 'check'], { LATCH_POLICY_FILE: EXAMPLE });
    expect(result.code).toBe(0);
  });
});
