import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { parsePolicy } from '../../../src/config/policy-file.ts';
import type { Policy } from '../../../src/domain/policy.ts';
import { createLogger } from '../../../src/logging/logger.ts';
import type { AccessProvider } from '../../../src/providers/provider.ts';
import { PolicySource } from '../../../src/runtime/policy-source.ts';

const resource = (id: string, usergroup: string) => `
  - id: ${id}
    name: ${id}
    provider: { type: slack-usergroup, settings: { usergroup: ${usergroup} } }
    roles: [member]
    maxDuration: 1h
    approvers: { users: [U0APPROVER1] }
    approvalChannel: C0APPROVALS`;
const policyText = (...resources: string[]) => `resources:${resources.join('')}\n`;

function fakeProvider(label: string): AccessProvider & { closed: boolean; label: string } {
  const provider = {
    label,
    closed: false,
    type: 'slack-usergroup',
    grant: async () => ({ ok: true as const, value: undefined }),
    revoke: async () => ({ ok: true as const, value: undefined }),
    check: async () => ({ ok: true as const, value: true }),
    close: async () => void (provider.closed = true),
  };
  return provider;
}

function setup(text: string) {
  const file = join(mkdtempSync(join(tmpdir(), 'latch-source-')), 'policy.yaml');
  writeFileSync(file, text);
  const parsed = parsePolicy(text);
  if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
  let built = 0;
  const build = async (policy: Policy) => ({ ok: true as const, providers: new Map(policy.resources.map((r) => [r.id, fakeProvider(`${r.id}#${++built}`)])) });
  const initial = new Map(parsed.policy.resources.map((r) => [r.id, fakeProvider(`${r.id}#initial`)]));
  const source = new PolicySource(file, { policy: parsed.policy, providers: initial }, build, createLogger({ level: 'silent' }));
  return { file, source, initial };
}

describe('PolicySource', () => {
  it('keeps the provider of a resource whose settings did not change, and retires the replaced one a minute later', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const { file, source, initial } = setup(policyText(resource('ops', 'S0OPS'), resource('db', 'S0DB')));
      writeFileSync(file, policyText(resource('ops', 'S0OPS'), resource('db', 'S0DBNEW'), resource('new', 'S0NEW')));
      expect(await source.reload('test')).toMatchObject({ outcome: 'reloaded' });
      expect(source.providers.get('ops')).toBe(initial.get('ops'));
      expect((source.providers.get('db') as ReturnType<typeof fakeProvider>).label).toMatch(/^db#/);
      expect(source.providers.get('new')).toBeDefined();
      // A grant already using the old one may finish first.
      expect((initial.get('db') as ReturnType<typeof fakeProvider>).closed).toBe(false);
      await vi.advanceTimersByTimeAsync(60_000);
      expect((initial.get('db') as ReturnType<typeof fakeProvider>).closed).toBe(true);
      expect((initial.get('ops') as ReturnType<typeof fakeProvider>).closed).toBe(false);
    } finally {
      vi.useRealTimers();
    }
  });

  it('replaces a postgres provider when what it guards changes (permanent holders), though its settings did not', async () => {
    const database = (holders: string) => `
  - id: db
    name: db
    provider: { type: postgres, settings: { connectionStringEnv: DB_URL } }
    identity: { from: map-only }
    roles: [read]
    maxDuration: 1h
    approvers: { users: [U0APPROVER1] }
    approvalChannel: C0APPROVALS
    permanentHolders: [${holders}]`;
    const { file, source, initial } = setup(policyText(database('svc_a'), resource('ops', 'S0OPS')));
    writeFileSync(file, policyText(database('svc_a, svc_b'), resource('ops', 'S0OPS')));
    expect(await source.reload('test')).toMatchObject({ outcome: 'reloaded' });
    expect(source.providers.get('db')).not.toBe(initial.get('db'));
    // Another type's provider does not read the guard: it is kept.
    expect(source.providers.get('ops')).toBe(initial.get('ops'));
  });

  it('refuses an invalid file, keeping what is in force, and does nothing when the text is the same', async () => {
    const { file, source } = setup(policyText(resource('ops', 'S0OPS')));
    const before = source.policy;
    writeFileSync(file, 'resources: [');
    expect(await source.reload('test')).toMatchObject({ outcome: 'refused' });
    expect(source.policy).toBe(before);
    expect(await source.reload('again')).toMatchObject({ outcome: 'refused' });
    writeFileSync(file, policyText(resource('ops', 'S0OPS')));
    expect(await source.reload('same text')).toEqual({ outcome: 'unchanged' });
  });
});
