#!/usr/bin/env -S node --max-semi-space-size=16
// The `latch` command. --max-semi-space-size=16 (MiB, Node's default before V8 scaled it with the
// machine's memory): on a large machine V8 lets the young generation of a busy `latch web` grow to
// 2 × 64 MiB, most of its peak memory beyond a bare Bolt app's; at 16 it peaked 19 % lower for
// about the same CPU per request (bench/cpu-per-request.ts, BENCH_LATCH_NODE_OPTIONS to compare).
// Whatever starts `node bin/latch.js` directly (the image's entrypoint) must pass the same flag. Latch runs its TypeScript sources through tsx (the generated Prisma client
// is TypeScript too), so there is no build step that can drift from the source.
import { register } from 'tsx/esm/api';

register();
const { runLatchCli } = await import('../src/cli/main.ts');
runLatchCli(process.argv.slice(2));
