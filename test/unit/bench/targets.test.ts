import { describe, expect, it } from 'vitest';
import { targetSummary, type TargetFigures } from '../../../bench/targets.ts';

/** The verdict (last column) of the table's row whose target starts with `target`. */
function verdictOf(figures: TargetFigures, target: string): string {
  const row = targetSummary(figures).find((line) => line.startsWith(target));
  if (!row) throw new Error(`no row for ${target}`);
  return row.split(' | ').at(-1)!.trim();
}

const cpu = (commandMs: number, commandBareMs: number): TargetFigures['cpu'] => ({ commandMs, commandWorkerMs: 2, commandBareMs, clickMs: 2, clickWorkerMs: 2, clickBareMs: 0.93 });

describe("the bench's target table", () => {
  it('calls the CPU target met only when the figure is within it on the reference host too', () => {
    // On the host of the reference runs (bare Bolt 0.93 ms), 2.9 ms is within 3 ms.
    expect(verdictOf({ cpu: cpu(2.9, 0.93) }, 'CPU per slash command')).toBe('met');
    // A fast hour: the bare app takes half the CPU, so 2.5 ms is 4.65 ms on the reference host.
    expect(verdictOf({ cpu: cpu(2.5, 0.465) }, 'CPU per slash command')).toBe('NOT MET');
    // A slow hour never makes a figure over 3 ms pass.
    expect(verdictOf({ cpu: cpu(3.2, 1.2) }, 'CPU per slash command')).toBe('NOT MET');
  });

  it('judges decisions against the recorded rate and against pgbench beside each run', () => {
    // 5× the recorded 69.2/s beside as fast a PostgreSQL as then (8,627 tps).
    expect(verdictOf({ decisions: { perSecond: 350, pgbenchTps: 8_627 } }, 'decisions end to end')).toBe('met');
    // 5× the rate, but beside a PostgreSQL half again as fast: not 5× as a share of pgbench.
    expect(verdictOf({ decisions: { perSecond: 350, pgbenchTps: 13_000 } }, 'decisions end to end')).toBe('NOT MET');
    expect(verdictOf({ decisions: { perSecond: 320, pgbenchTps: 4_000 } }, 'decisions end to end')).toBe('NOT MET');
  });
});
