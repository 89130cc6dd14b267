#!/usr/bin/env node
// The `latch` command: the compiled JavaScript in dist/, run by plain node. A packed or installed
// latch carries dist/; a clone makes it with `npm run build`. Nothing at run time needs tsx or a
// TypeScript compiler.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('latch: dist/ holds no build: run `npm run build` first\n');
  process.exit(1);
}
const { runLatchCli } = await import(entry.href);
runLatchCli(process.argv.slice(2));
