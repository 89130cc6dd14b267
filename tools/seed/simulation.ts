import { ok, type AccessProvider, type ProviderGrant, type ProviderResult } from '../../src/providers/provider.ts';
import type { Clock } from '../../src/services/service-context.ts';

/**
 * The seed's clock: each simulated event runs with the time it was scheduled for, never the wall
 * clock's.
 */
export function clockAt(ms: number): Clock {
  return { now: () => new Date(ms) };
}

export interface ScheduledEvent<T> {
  at: number;
  order: number;
  /** What the event belongs to: events of one owner never run at the same time. */
  owner: T;
  run: (at: number) => Promise<void>;
}

/**
 * Discrete events in time order (ties in the order they were scheduled): the seed's stand-in for
 * BullMQ's delayed jobs and for people clicking in Slack. A binary heap, so a history of a million
 * events schedules in O(log n) each.
 */
export class EventQueue<T> {
  private readonly heap: Array<ScheduledEvent<T>> = [];
  private scheduled = 0;

  get size(): number {
    return this.heap.length;
  }

  add(at: number, owner: T, run: (at: number) => Promise<void>): void {
    const event = { at, order: this.scheduled++, owner, run };
    const heap = this.heap;
    heap.push(event);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  peek(): ScheduledEvent<T> | undefined {
    return this.heap[0];
  }

  take(): ScheduledEvent<T> | undefined {
    const heap = this.heap;
    const first = heap[0];
    const last = heap.pop();
    if (first === undefined || last === undefined || heap.length === 0) return first;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < heap.length && before(heap[left]!, heap[smallest]!)) smallest = left;
      if (right < heap.length && before(heap[right]!, heap[smallest]!)) smallest = right;
      if (smallest === i) break;
      [heap[i], heap[smallest]] = [heap[smallest]!, heap[i]!];
      i = smallest;
    }
    return first;
  }
}

function before<T>(a: ScheduledEvent<T>, b: ScheduledEvent<T>): boolean {
  return a.at < b.at || (a.at === b.at && a.order < b.order);
}

type Step = 'grant' | 'revoke';

/**
 * The seed's provider: grants and revokes nothing, so seeding never touches a real target and
 * needs none of the policy's secrets. It answers with the provider type the policy names (so the
 * history reads like the real thing) and, for the requests a plan says so, fails as a real target
 * sometimes does: a grant refused for good, a timeout that a retry gets past.
 */
export class SeedProvider implements AccessProvider {
  private readonly scripts = new Map<string, Record<Step, Array<ProviderResult<never>>>>();

  constructor(readonly type: string) {}

  /** The next calls of `step` for `requestId` answer `failures`, in order; then they succeed. */
  failNext(requestId: string, step: Step, failures: Array<ProviderResult<never>>): void {
    const script = this.scripts.get(requestId) ?? { grant: [], revoke: [] };
    script[step].push(...failures);
    this.scripts.set(requestId, script);
  }

  async grant(grant: ProviderGrant): Promise<ProviderResult> {
    return this.answer(grant.requestId, 'grant');
  }

  async revoke(grant: ProviderGrant): Promise<ProviderResult> {
    return this.answer(grant.requestId, 'revoke');
  }

  async check(): Promise<ProviderResult<boolean>> {
    return ok(true);
  }

  private answer(requestId: string, step: Step): ProviderResult {
    const failure = this.scripts.get(requestId)?.[step].shift();
    return failure ?? ok();
  }
}
