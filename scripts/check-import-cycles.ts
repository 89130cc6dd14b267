// Fails when src/ has an import cycle that exists at run time: in a cycle one module is evaluated
// while the other is only half done, so a value it imports is still undefined (or in its temporal
// dead zone) depending on which file happened to load first.
//
// Type-only imports do not count: `import type` is erased before run time (verbatimModuleSyntax),
// so it cannot change the order modules are evaluated in, and a context type that names the
// services which take it is a normal thing to write. The linter refuses `import { type A }` (which
// would still load the module) so that every import that survives at run time is seen here.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCircular, parseDependencyTree } from 'dpdm';

/** The run-time import cycles among root/src's TypeScript files, each as a list of paths from root. */
export async function findImportCycles(root: string): Promise<string[][]> {
  const tree = await parseDependencyTree('src/**/*.ts', {
    cwd: root,
    context: root,
    // Compile each file as tsc would emit it, so imports used only as types drop out.
    transform: true,
    // Prisma's generated client has type-level cycles of its own; it is not ours to shape.
    exclude: /[\\/](node_modules|src[\\/]store[\\/]generated)[\\/]/,
  });
  return parseCircular(tree);
}

const isMain = process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const cycles = await findImportCycles(root);
  if (cycles.length > 0) {
    console.error(`Import cycles in src/ (break each by moving what both sides need to the file that owns it):`);
    for (const cycle of cycles) console.error(`  ${[...cycle, cycle[0]].join(' -> ')}`);
    process.exit(1);
  }
  console.log('No import cycles in src/.');
}
