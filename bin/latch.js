#!/usr/bin/env -S node --max-semi-space-size=16
// The `latch` command: the compiled JavaScript in dist/, run by plain node. A packed or installed
// latch carries dist/; a clone makes it with `npm run build`. Nothing at run time needs tsx or a
// TypeScript compiler. --max-semi-space-size=16 (MiB, Node's default before V8 scaled it with the
// machine's memory): on a large machine V8 lets the young generation of a busy `latch web` grow to
// 2 × 64 MiB, most of its peak memory beyond a bare Bolt app's; at 16 it peaked 19 % lower for
// about the same CPU per request (bench/cpu-per-request.ts, BENCH_LATCH_NODE_OPTIONS to compare).
// Weighed again on a busy machine, at 200 commands/s one after another and at 40/s side by side:
// V8's default peaked at 388 / 310 MiB, 16 at 206 / 209, 8 no lower (214 / 219) for twice the
// scavenges, while garbage collection is 3 % of latch web's CPU at 16: 16 stays.
// --heap-growing-percent=50 (the old generation kept within 1.5 × the live heap) was tried and
// dropped: on a busy machine latch web peaked at 201-205 MiB with it against 221-279 without, but
// on the quiet machine it doubled the ack's median at 200 commands/s (8.6 vs 3.7 ms; p99 37 vs
// 30 ms; clicks p99 17.8 vs 9.7 ms), the more frequent full collections landing in requests.
// Whatever starts `node bin/latch.js` directly (the image's entrypoint) must pass the same flags.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('latch: dist/ holds no build: run `npm run build` first\n');
  process.exit(1);
}
const { runLatchCli } = await import(entry.href);
runLatchCli(process.argv.slice(2));
