import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  dockerContextAllowlist,
  dockerfileContextSources,
  imageCopies,
  moduleReferences,
  packageOf,
  REPOSITORY,
  sourceFilesUnder,
} from '../helpers/product-files.ts';

// The product is src/ and bin/ (with prisma/ and package.json); it ships compiled, src/ as dist/.
// Development tools live in tools/, tests in test/, benchmarks in bench/. None of those three may
// reach the production image or the packed package, so the product must never need them.
const PRODUCT_SOURCES = ['src', 'bin'];
const NOT_PRODUCT = ['tools', 'test', 'bench'];

const isUnder = (path: string, folder: string) => path === folder || path.startsWith(`${folder}/`);
const productFiles = PRODUCT_SOURCES.flatMap(sourceFilesUnder);

/**
 * Where a file the product refers to is found once built: src/ runs as its compiled mirror in dist/
 * (tsc keeps the depth, so `../../prisma/x` from src/store/ and dist/store/ is the same file).
 */
const shipped = (path: string) => (isUnder(path, 'src') ? `dist${path.slice('src'.length)}` : path);

/** The files the product refers to by relative path, each as `from → target` (relative to the repository). */
function productReferences(): Array<{ from: string; target: string }> {
  return productFiles.flatMap((file) =>
    moduleReferences(readFileSync(file, 'utf8'))
      .filter(({ specifier }) => specifier.startsWith('.'))
      .map(({ specifier }) => ({
        from: relative(REPOSITORY, file),
        target: relative(REPOSITORY, resolve(dirname(file), specifier)).split(sep).join('/'),
      })),
  );
}

describe('the product (src/, bin/)', () => {
  it('refers to no file of tools/, test/ or bench/, and to no file the image does not copy', () => {
    const copied = imageCopies();
    const inImage = [...copied.fromContext, ...copied.fromStages].map((path) => path.replace(/^\.\//, '').replace(/\/$/, ''));
    expect(inImage).toContain('dist');
    expect(inImage).not.toContain('src');
    const strays = productReferences()
      .filter(({ target }) => NOT_PRODUCT.some((folder) => isUnder(target, folder)) || !inImage.some((path) => isUnder(shipped(target), path)))
      .map(({ from, target }) => `${from} → ${target}`);
    expect(strays).toEqual([]);
  });

  it('refers to no file the packed package (`files` in package.json) leaves out', () => {
    const { files } = JSON.parse(readFileSync(join(REPOSITORY, 'package.json'), 'utf8')) as { files: string[] };
    const packed = files.map((path) => path.replace(/\/$/, ''));
    expect(packed).not.toContain('src');
    const strays = productReferences()
      .filter(({ target }) => !packed.some((path) => isUnder(shipped(target), path)))
      .map(({ from, target }) => `${from} → ${target}`);
    expect(strays).toEqual([]);
  });

  it('imports at run time only Node built-ins and production dependencies, which the image installs (npm ci --omit=dev)', () => {
    const { dependencies } = JSON.parse(readFileSync(join(REPOSITORY, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const builtins = new Set(builtinModules);
    const strays: string[] = [];
    for (const file of productFiles) {
      for (const { specifier, typeOnly } of moduleReferences(readFileSync(file, 'utf8'))) {
        if (specifier.startsWith('.') || typeOnly || specifier.startsWith('node:') || builtins.has(specifier)) continue;
        if (!(packageOf(specifier) in dependencies)) strays.push(`${relative(REPOSITORY, file)} → ${specifier}`);
      }
    }
    expect(strays).toEqual([]);
  });

  it('is found by the checks above: they read imports, re-exports, dynamic imports and files opened by URL', () => {
    const source = [
      "import { a } from '../tools/demo/main.ts';",
      'import {',
      '  b,',
      "} from '../test/helpers/x.ts';",
      "export * from '../bench/run.ts';",
      "import type { C } from 'ws';",
      "import 'side-effect';",
      "const later = await import('../tools/seed/main.ts');",
      "const page = new URL('../tools/sandbox/page/', import.meta.url);",
      "// a comment that says from '../tools/nothing.ts' is not an import",
    ].join('\n');
    expect(moduleReferences(source)).toEqual([
      { specifier: '../tools/demo/main.ts', typeOnly: false },
      { specifier: '../test/helpers/x.ts', typeOnly: false },
      { specifier: '../bench/run.ts', typeOnly: false },
      { specifier: 'ws', typeOnly: true },
      { specifier: 'side-effect', typeOnly: false },
      { specifier: '../tools/seed/main.ts', typeOnly: false },
      { specifier: '../tools/sandbox/page/', typeOnly: false },
    ]);
    expect(packageOf('@prisma/client/runtime/client')).toBe('@prisma/client');
    expect(packageOf('tsx/esm/api')).toBe('tsx');
  });
});

describe('the production image', () => {
  it('takes into its build context and copies only product files: never tools/, test/ or bench/', () => {
    const allowed = dockerContextAllowlist();
    const copied = dockerfileContextSources().map((path) => path.replace(/^\.\//, '').replace(/\/$/, ''));
    for (const path of [...allowed, ...copied]) {
      expect(NOT_PRODUCT.some((folder) => isUnder(path, folder)), path).toBe(false);
    }
    // Each copied path is let into the build context, so the Dockerfile and .dockerignore agree.
    for (const path of copied) expect(allowed.some((entry) => isUnder(path, entry)), path).toBe(true);
    expect(allowed.sort()).toEqual(['bin', 'package-lock.json', 'package.json', 'prisma', 'prisma.config.ts', 'scripts/prisma-generate.mjs', 'src', 'tsconfig.build.json', 'tsconfig.json']);
  });

  // The entrypoint names node, so bin/latch.js's shebang is not read there: its heap flags (the
  // young generation's size and the old generation's limit, which set much of latch web's
  // memory) must be repeated, the same.
  it('starts latch with the Node flags of bin/latch.js\'s first line', () => {
    const shebang = readFileSync(join(REPOSITORY, 'bin/latch.js'), 'utf8').split('\n', 1)[0]!;
    const flags = /^#!\/usr\/bin\/env -S node(.*)$/.exec(shebang)?.[1]!.trim().split(/\s+/).filter(Boolean);
    const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(readFileSync(join(REPOSITORY, 'Dockerfile'), 'utf8'))?.[1];
    expect(flags?.some((flag) => flag.startsWith('--max-semi-space-size='))).toBe(true);
    expect(flags?.some((flag) => flag.startsWith('--max-old-space-size='))).toBe(true);
    expect(JSON.parse(entrypoint ?? 'null')).toEqual(['node', ...flags!, 'bin/latch.js']);
  });
});
