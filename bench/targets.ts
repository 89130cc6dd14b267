/**
 * Issue 19's targets, printed at the end of `npm run bench` as one table: each with the figure
 * this run measured, the baseline beside it, the ratio, and whether the target is met. A section
 * that did not run shows its targets as not measured.
 */

/** Decisions end to end per second on main before issue 19: BENCHMARKS.md's quiet run (main at 4a5d50f). */
export const RECORDED_DECISIONS_PER_SECOND = 69.2;
/** pgbench simple-update's transactions a second beside that run (16 clients): how fast the host was then. */
export const RECORDED_PGBENCH_TPS = 8_627;
/**
 * The bare Bolt app's CPU per request in the quiet runs that tracked the 3 ms targets (BENCHMARKS.md:
 * 0.93 ms at 21cd643, 0.97 at d3a648e). The same VM measured it from 0.37 to 0.93 ms within the
 * next two hours, pgbench beside it from 9,987 to 13,454 tps (the host's speed moves), so a figure
 * in ms alone would call a target met on a fast hour that a slow hour misses: each CPU figure is
 * also scaled by this over the bare app's own figure in the same run, and a target is met only
 * when both are within it.
 */
export const REFERENCE_BARE_CPU_MS = 0.93;

/** What the sections measured that the targets need; a section not run leaves its part out. */
export interface TargetFigures {
  /** latch web's CPU (the target's), and the worker's for the Slack notices web queues (shown beside it, so moved work stays visible). */
  cpu?: { commandMs: number; commandWorkerMs: number; commandBareMs: number; clickMs: number; clickWorkerMs: number; clickBareMs: number };
  decisions?: { perSecond: number; pgbenchTps: number };
  ack?: {
    rate: number;
    command: { p99: number; bareP99: number; refused: number };
    click: { p99: number; bareP99: number; refused: number | null };
  };
  webMemory?: { peakMiB: number; barePeakMiB: number };
  audit?: { verifyPerSecond: number; rawSha256PerSecond: number };
}

interface Row {
  target: string;
  figure: string;
  baseline: string;
  ratio: string;
  verdict: 'met' | 'NOT MET' | 'not measured';
}

const fmt = (value: number, digits = 0) => (Number.isFinite(value) ? value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : 'n/a');
const times = (a: number, b: number) => (b > 0 && Number.isFinite(a) ? `×${fmt(a / b, a / b < 0.1 ? 3 : 2)}` : 'n/a');
const verdict = (met: boolean): Row['verdict'] => (met ? 'met' : 'NOT MET');
const notMeasured = (target: string, section: string): Row => ({ target, figure: `not measured (BENCH_ONLY without ${section})`, baseline: '', ratio: '', verdict: 'not measured' });

/** The table's lines, ready to print. */
export function targetSummary(figures: TargetFigures): string[] {
  const rows: Row[] = [];
  const { cpu, decisions, ack, webMemory, audit } = figures;
  for (const [kind, what] of [
    ['command', 'slash command'],
    ['click', 'Approve click'],
  ] as const) {
    const target = `CPU per ${what} in latch web ≤ 3 ms`;
    if (!cpu) rows.push(notMeasured(target, 'cpu'));
    else {
      const latch = kind === 'command' ? cpu.commandMs : cpu.clickMs;
      const bare = kind === 'command' ? cpu.commandBareMs : cpu.clickBareMs;
      const worker = kind === 'command' ? cpu.commandWorkerMs : cpu.clickWorkerMs;
      // As if on the host of the reference runs: a faster hour makes the bare app cheaper too.
      const scaled = bare > 0 ? (latch * REFERENCE_BARE_CPU_MS) / bare : Number.NaN;
      rows.push({
        target,
        figure: `${fmt(latch, 2)} ms (+ ${fmt(worker, 2)} ms in the worker for its notices); ${fmt(scaled, 2)} ms scaled to a bare Bolt of ${REFERENCE_BARE_CPU_MS} ms`,
        baseline: `bare Bolt ${fmt(bare, 2)} ms`,
        ratio: `${times(latch, bare)} bare; ${times(latch, 3)} target; scaled ${times(scaled, 3)} target`,
        verdict: verdict(latch <= 3 && scaled <= 3),
      });
    }
  }
  {
    const target = 'decisions end to end ≥ 5× before';
    if (!decisions) rows.push(notMeasured(target, 'decisions'));
    else {
      const ratio = decisions.perSecond / RECORDED_DECISIONS_PER_SECOND;
      // Against pgbench on the same PostgreSQL in each run, so a faster host counts for neither side.
      const pgbenchRatio = decisions.pgbenchTps > 0 ? decisions.perSecond / decisions.pgbenchTps / (RECORDED_DECISIONS_PER_SECOND / RECORDED_PGBENCH_TPS) : Number.NaN;
      rows.push({
        target,
        figure: `${fmt(decisions.perSecond, 1)}/s beside pgbench ${fmt(decisions.pgbenchTps)} tps`,
        baseline: `${RECORDED_DECISIONS_PER_SECOND}/s recorded beside pgbench ${fmt(RECORDED_PGBENCH_TPS)} tps (BENCHMARKS.md, quiet run: latch web alone, posting the update itself; now a worker posts it and grants each request too)`,
        ratio: `×${fmt(ratio, 2)}; ×${fmt(pgbenchRatio, 2)} as shares of pgbench`,
        verdict: verdict(ratio >= 5 && pgbenchRatio >= 5),
      });
    }
  }
  for (const kind of ['command', 'click'] as const) {
    const what = kind === 'command' ? 'slash-command' : 'Approve-click';
    const target = `${what} ack p99 at ${ack ? fmt(ack.rate) : 200}/s ≤ 2× bare Bolt, none refused as busy`;
    if (!ack) rows.push(notMeasured(target, 'ack'));
    else {
      const { p99, bareP99, refused } = ack[kind];
      const refusals = refused === null ? 'refusals not counted' : `${fmt(refused)} ${kind === 'command' ? 'refused as busy' : 'refused or not approved'}`;
      rows.push({ target, figure: `p99 ${fmt(p99, 1)} ms; ${refusals}`, baseline: `bare Bolt p99 ${fmt(bareP99, 1)} ms`, ratio: times(p99, bareP99), verdict: verdict(p99 <= 2 * bareP99 && refused === 0) });
    }
  }
  {
    const target = 'latch web peak memory ≤ 1.5× bare Bolt';
    if (!webMemory) rows.push(notMeasured(target, 'ack or memory'));
    else {
      const { peakMiB, barePeakMiB } = webMemory;
      rows.push({ target, figure: `${fmt(peakMiB)} MiB`, baseline: `bare Bolt ${fmt(barePeakMiB)} MiB`, ratio: times(peakMiB, barePeakMiB), verdict: verdict(peakMiB <= 1.5 * barePeakMiB) });
    }
  }
  {
    const target = 'latch audit verify ≥ 0.5× raw SHA-256';
    if (!audit) rows.push(notMeasured(target, 'audit'));
    else {
      const { verifyPerSecond, rawSha256PerSecond } = audit;
      rows.push({ target, figure: `${fmt(verifyPerSecond)} events/s`, baseline: `raw SHA-256 ${fmt(rawSha256PerSecond)}/s`, ratio: times(verifyPerSecond, rawSha256PerSecond), verdict: verdict(verifyPerSecond >= 0.5 * rawSha256PerSecond) });
    }
  }
  const header: Row = { target: 'target', figure: 'this run', baseline: 'baseline', ratio: 'ratio', verdict: 'met' };
  const widths = (['target', 'figure', 'baseline', 'ratio'] as const).map((key) => Math.max(...[header, ...rows].map((row) => row[key].length)));
  const line = (row: Row, verdictText: string) =>
    [row.target.padEnd(widths[0]!), row.figure.padEnd(widths[1]!), row.baseline.padEnd(widths[2]!), row.ratio.padEnd(widths[3]!), verdictText].join(' | ');
  return [line(header, 'verdict'), widths.map((width) => '-'.repeat(width)).concat('-------').join('-|-'), ...rows.map((row) => line(row, row.verdict))];
}
