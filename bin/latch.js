#!/usr/bin/env -S node --max-semi-space-size=16 --heap-growing-percent=50
// The `latch` command: the compiled JavaScript in dist/, run by plain node. A packed or installed
// latch carries dist/; a clone makes it with `npm run build`. Nothing at run time needs tsx or a
// TypeScript compiler. --max-semi-space-size=16 (MiB, Node's default before V8 scaled it with the
// machine's memory): on a large machine V8 lets the young generation of a busy `latch web` grow to
// 2 × 64 MiB, most of its peak memory beyond a bare Bolt app's; at 16 it peaked 19 % lower for
// about the same CPU per request (bench/cpu-per-request.ts, BENCH_LATCH_NODE_OPTIONS to compare).
// Weighed again on a busy machine, at 200 commands/s one after another and at 40/s side by side:
// V8's default peaked at 388 / 310 MiB, 16 at 206 / 209, 8 no lower (214 / 219) for twice the
// scavenges, while garbage collection is 3 % of latch web's CPU at 16: 16 stays.
// --heap-growing-percent=50: after each full collection V8 lets the old generation grow to 1.5 ×
// what was live, instead of up to about 4 × while the process is busy. Under load latch web's
// live heap stayed about 50 MiB while its old generation filled to 85-124 MiB with garbage that
// requests left when they outlived a young collection. At 200 commands then 200 clicks a second
// latch web peaked at 201-205 MiB with it, 221-279 MiB without (30: 190; 100: 219-227), with no
// difference in CPU per command or click at 40/s above a shared machine's noise (BENCHMARKS.md).
// Whatever starts `node bin/latch.js` directly (the image's entrypoint) must pass the same flags.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('latch: dist/ holds no build: run `npm run build` first\n');
  process.exit(1);
}
const { runLatchCli } = await import(entry.href);
runLatchCli(process.argv.slice(2));
