#!/usr/bin/env -S node --max-semi-space-size=8 --max-old-space-size=256
// The `latch` command: the compiled JavaScript in dist/, run by plain node. A packed or installed
// latch carries dist/; a clone makes it with `npm run build`. Nothing at run time needs tsx or a
// TypeScript compiler. --max-semi-space-size=8 (MiB): V8 scales the young generation with the
// machine's memory (2 × 64 MiB on a large machine), and a busy `latch web` grows it to the
// maximum, which stays resident while idle too. 16 peaked 19 % lower than V8's default for about
// the same CPU per request. 8 holds 14-15 MiB less resident memory at idle than 16 (latch web
// 150 -> 136 MiB) and peaked 10-28 MiB lower under 200 commands/s, for the same CPU per request
// above a busy shared machine's noise (BENCHMARKS.md, "latch web's young generation"): scavenges
// come twice as often, each shorter. The bench's peak after the clicks that follow was no lower
// (216 vs 218 MiB): that part is the old generation's garbage. 4 saves as much again at idle, but
// its peaks under the bench's load were no lower than 8's for four times the scavenges.
// --heap-growing-percent=50 (the old generation kept within 1.5 × the live heap) was tried and
// dropped: on a busy machine latch web peaked at 201-205 MiB with it against 221-279 without, but
// on the quiet machine it doubled the ack's median at 200 commands/s (8.6 vs 3.7 ms; p99 37 vs
// 30 ms; clicks p99 17.8 vs 9.7 ms), the more frequent full collections landing in requests.
// --optimize-for-size was tried too: it pins the young generation near 1 MiB and keeps the old one
// small (peak 145-147 MiB, ×1.2 the bare Bolt app, in two runs), but in those runs a click cost
// about a third more CPU and the ack's median tripled, as with --heap-growing-percent: not used.
// --max-old-space-size=256 (MiB): V8 sizes its old generation from the host's memory (about
// 4 GiB on a 23.5 GiB machine), and with that much room a busy `latch web` let promoted garbage
// pile up to two or three times what was live before a full collection (peaks of 217-225 MiB
// resident for 40-60 MiB live). With a budget that fits the 512Mi pods of deploy/kubernetes/
// (Node also sizes V8's heap from a cgroup's memory limit; what it picks there was not checked),
// V8 collects sooner: the peak fell to 167-168 MiB in back-to-back pairs on a shared machine,
// idle 136 -> 130 MiB (BENCHMARKS.md, "latch web's memory under load"), for about 0.2 ms more CPU
// a request in four pairs on a quiet machine (BENCHMARKS.md, the quiet run after the fourth
// round): a bound on a burst's memory is worth more than that at Slack's rates. Headroom: latch web's live heap after a full collection stayed at 40-60
// MiB idle and under 200 requests/s with up to 256 in flight (the admission gate's bound); with
// this limit `latch worker` revoked 10,000 grants due at 500/s peaking at 202 MiB resident, and
// `latch audit` reads its chain in bounded batches. V8 collects harder as it nears the limit and
// fails only when what is live exceeds it, four times latch web's largest. Flags here come after
// NODE_OPTIONS' and win: a deployment that needs more starts node with flags of its own (the
// README's Kubernetes section: the container's `command`).
// Whatever starts `node bin/latch.js` directly (the image's entrypoint) must pass the same flags.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('latch: dist/ holds no build: run `npm run build` first\n');
  process.exit(1);
}
const { runLatchCli } = await import(entry.href);
runLatchCli(process.argv.slice(2));
