import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root, which the Dockerfile's build context is. */
export const REPOSITORY = fileURLToPath(new URL('../../', import.meta.url));

/**
 * What the production image copies from the build context into its final stage, as the
 * Dockerfile's `COPY <source> <destination>` lines (without `--from`) say, and what it copies
 * from an earlier stage (`COPY --from=<stage>`), each as a path in /app.
 */
export function imageCopies(): { fromContext: string[]; fromStages: string[] } {
  const stages = readFileSync(join(REPOSITORY, 'Dockerfile'), 'utf8').split(/^FROM /m);
  const copies = stages.at(-1)!.split('\n').filter((line) => line.startsWith('COPY '));
  const words = copies.map((line) => line.split(/\s+/).slice(1));
  return {
    fromContext: words.filter((copy) => !copy[0]!.startsWith('--')).flatMap((copy) => copy.slice(0, -1)),
    fromStages: words.filter((copy) => copy[0]!.startsWith('--from=')).map((copy) => copy.at(-1)!),
  };
}

/** Every source the Dockerfile copies from the build context, in any stage. */
export function dockerfileContextSources(): string[] {
  return readFileSync(join(REPOSITORY, 'Dockerfile'), 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('COPY ') && !line.includes('--from='))
    .flatMap((line) => line.split(/\s+/).slice(1, -1));
}

/** The paths .dockerignore lets into the build context (it ignores everything else: `*`). */
export function dockerContextAllowlist(): string[] {
  return readFileSync(join(REPOSITORY, '.dockerignore'), 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('!'))
    .map((line) => line.slice(1).trim());
}

/** The source files under `folder` (relative to the repository), recursively. */
export function sourceFilesUnder(folder: string): string[] {
  return readdirSync(join(REPOSITORY, folder), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && /\.(ts|js|mjs)$/.test(entry.name))
    .map((entry) => join(entry.parentPath, entry.name));
}

export interface ModuleReference {
  specifier: string;
  /** `import type` and `export type` are erased before anything runs. */
  typeOnly: boolean;
}

/**
 * The modules and files a source file refers to: static imports and re-exports, side-effect
 * imports, dynamic `import()`, and files opened through `new URL(…, import.meta.url)`. Read
 * with patterns rather than a parser: statements start a line, which Latch's formatting keeps.
 */
export function moduleReferences(source: string): ModuleReference[] {
  const references: ModuleReference[] = [];
  for (const match of source.matchAll(/^\s*(?:import|export)\s+(type\s+)?[^;()=]*?\bfrom\s*['"]([^'"]+)['"]/gm)) {
    references.push({ specifier: match[2]!, typeOnly: match[1] !== undefined });
  }
  for (const match of source.matchAll(/^\s*import\s*['"]([^'"]+)['"]/gm)) references.push({ specifier: match[1]!, typeOnly: false });
  for (const match of source.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) references.push({ specifier: match[1]!, typeOnly: false });
  for (const match of source.matchAll(/new URL\(\s*['"](\.{1,2}\/[^'"]*)['"]\s*,\s*import\.meta\.url\s*\)/g)) {
    references.push({ specifier: match[1]!, typeOnly: false });
  }
  return references;
}

/** The npm package a bare specifier names (`@scope/name/sub` → `@scope/name`). */
export function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}
