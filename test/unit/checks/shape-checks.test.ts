// Each check that keeps the shape is run on a small project that breaks it, so a misconfigured
// check (a glob that matches nothing, a rule left off) fails here instead of passing silently.
// The project gets the repository's own eslint.config.js and tsconfig.json.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ESLint } from 'eslint';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findImportCycles } from '../../../scripts/check-import-cycles.ts';

const repo = path.resolve(import.meta.dirname, '../../..');

const fixtures: Record<string, string> = {
  'src/services/floating.ts': `
async function save(): Promise<void> {}
export function dropped(): void {
  save();
}
export function misused(): void {
  setTimeout(async () => { await save(); }, 1);
}
export async function handled(): Promise<void> {
  await save();
  save().catch(() => {});
  void save(); // fire-and-forget, said so
}
`,
  'src/domain/impure.ts': `
import { Queue } from 'bullmq';
import { readFileSync } from 'node:fs';
import type { Store } from '../store/store.ts';
export { postMessage } from '../slack/post.ts';
export const later = () => import('./pure.ts');
export type Seen = [Queue, typeof readFileSync, Store];
`,
  'src/domain/pure.ts': `
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { durationMs } from './duration.ts';
export const sha = (text: string) => createHash('sha256').update(text).digest('hex');
export const schema = z.object({ ms: z.number() });
export const minute = durationMs;
`,
  'src/domain/duration.ts': `export const durationMs = 60_000;\n`,
  'src/cycle/a.ts': `import { b } from './b.ts';\nexport const a = () => b;\n`,
  'src/cycle/b.ts': `import { a } from './a.ts';\nexport const b = () => a;\n`,
  'src/types-only/context.ts': `import { approve } from './approve.ts';\nexport interface Context { approve: typeof approve }\n`,
  'src/types-only/approve.ts': `import type { Context } from './context.ts';\nexport const approve = (ctx: Context) => ctx;\n`,
  'src/types-only/inline-type.ts': `import { type Context } from './context.ts';\nexport type Same = Context;\n`,
};

let project: string;
let results: Map<string, ESLint.LintResult>;

beforeAll(async () => {
  project = mkdtempSync(path.join(tmpdir(), 'latch-shape-checks-'));
  copyFileSync(path.join(repo, 'eslint.config.js'), path.join(project, 'eslint.config.js'));
  copyFileSync(path.join(repo, 'tsconfig.json'), path.join(project, 'tsconfig.json'));
  symlinkSync(path.join(repo, 'node_modules'), path.join(project, 'node_modules'), 'dir');
  for (const [file, text] of Object.entries(fixtures)) {
    mkdirSync(path.dirname(path.join(project, file)), { recursive: true });
    writeFileSync(path.join(project, file), text);
  }
  const linted = await new ESLint({ cwd: project }).lintFiles(['src']);
  results = new Map(linted.map((result) => [path.relative(project, result.filePath), result]));
});

afterAll(() => {
  if (project) rmSync(project, { recursive: true, force: true });
});

function messagesOf(file: string): Array<{ rule: string | null; line: number; message: string }> {
  const result = results.get(file);
  if (!result) throw new Error(`${file} was not linted`);
  return result.messages.map((m) => ({ rule: m.ruleId, line: m.line, message: m.message }));
}

async function rulesFor(eslint: ESLint, file: string): Promise<Record<string, unknown[]>> {
  const config = (await eslint.calculateConfigForFile(file)) as { rules?: Record<string, unknown[]> } | undefined;
  return config?.rules ?? {};
}

describe('the linter', () => {
  it('refuses a floating promise and a promise passed where nothing awaits it, and accepts handled ones', () => {
    expect(messagesOf('src/services/floating.ts').map(({ rule, line }) => ({ rule, line }))).toEqual([
      { rule: '@typescript-eslint/no-floating-promises', line: 4 },
      { rule: '@typescript-eslint/no-misused-promises', line: 7 },
    ]);
  });

  it('refuses a domain import beyond the allow-list, naming the import', () => {
    const messages = messagesOf('src/domain/impure.ts');
    const refused = messages.filter((m) => m.rule === 'no-restricted-imports').map((m) => m.message);
    for (const source of ['bullmq', 'node:fs', '../store/store.ts', '../slack/post.ts']) {
      expect(refused.some((message) => message.startsWith(`'${source}' import is restricted`))).toBe(true);
    }
    expect(messages.filter((m) => m.rule === 'no-restricted-syntax').map((m) => m.line)).toEqual([6]);
  });

  it('accepts the domain’s own files and its pure packages', () => {
    expect(messagesOf('src/domain/pure.ts')).toEqual([]);
  });

  it('refuses `import { type A }`, which would still load the module at run time', () => {
    expect(messagesOf('src/types-only/inline-type.ts').map((m) => m.rule)).toEqual(['@typescript-eslint/no-import-type-side-effects']);
  });

  it('applies the promise rules to src, test, bench and tools, and purity to src/domain', async () => {
    const eslint = new ESLint({ cwd: repo });
    for (const file of ['src/x.ts', 'test/unit/x.test.ts', 'bench/x.ts', 'tools/x.ts']) {
      const rules = await rulesFor(eslint, file);
      expect(rules['@typescript-eslint/no-floating-promises']?.[0], file).toBe(2);
      expect(rules['@typescript-eslint/no-misused-promises']?.[0], file).toBe(2);
    }
    expect((await rulesFor(eslint, 'src/domain/x.ts'))['no-restricted-imports']?.[0]).toBe(2);
  });
});

describe('the import cycle check', () => {
  it('finds a cycle of run-time imports and ignores one closed only by `import type`', async () => {
    const cycles = await findImportCycles(project);
    expect(cycles.map((cycle) => [...cycle].sort())).toEqual([['src/cycle/a.ts', 'src/cycle/b.ts']]);
  });
});
