import { itemName } from '../domain/request-bundle.ts';
import type { SlackRequestEvidence } from '../domain/decision-evidence.ts';
import { readBundleItems } from '../store/request-bundle-reads.ts';
import { decideRequest, type DecideRequestResult } from './decide-request.ts';
import { refuse, type Refusal, type Refused } from './refusal.ts';
import { isRequestId } from './request-id.ts';
import type { ServiceContext } from './service-context.ts';

export interface ApproveBundleInput {
  /** The bundle's id: the id of the item whose card shows them all. */
  bundleId: string;
  deciderId: string;
  /** The revision of every item the approver was shown, in the order asked. */
  revisions: readonly number[];
  evidence?: SlackRequestEvidence | undefined;
}

export type ApproveBundleResult =
  | {
      ok: true;
      /** The items this approval counted on (recorded, or approved by it). */
      approved: Array<{ requestId: string; item: string; outcome: 'recorded' | 'approved' }>;
      /** The waiting items it could not count on, each with why (not an approver of it, own request, …). */
      left: Array<{ requestId: string; item: string; refusal: Refusal }>;
    }
  | Refused;

/**
 * "Approve all" on a bundle's card: the decider's approval, on each waiting item, as if they had
 * clicked that item's Approve: each goes through decideRequest, so every check applies item by item
 * (approver of that resource now, not their own request, the revision shown, the policy in force).
 * Items they may not approve are left for others, and said; items no longer waiting are skipped.
 */
export async function approveBundle(ctx: ServiceContext, input: ApproveBundleInput): Promise<ApproveBundleResult> {
  const items = isRequestId(input.bundleId) ? await readBundleItems(ctx.db, input.bundleId) : [];
  if (items.length === 0) return refuse('not_found', 'This request no longer exists.');
  // Shown a different list (not Latch's card, or not this bundle's): nothing is approved.
  if (input.revisions.length !== items.length) return refuse('stale', 'This request changed after you saw it; look at it again before deciding.', { detail: { shown: input.revisions.length, items: items.length } });
  // One click, one moment: each item's events carry it, as `latch audit verify` expects of events that share a signed request.
  const at = ctx.clock.now();
  const approved: Array<{ requestId: string; item: string; outcome: 'recorded' | 'approved' }> = [];
  const left: Array<{ requestId: string; item: string; refusal: Refusal }> = [];
  for (const [index, item] of items.entries()) {
    if (item.state !== 'pending') continue;
    const name = itemName({ resourceId: item.resourceId, role: item.role });
    const result: DecideRequestResult = await decideRequest(ctx, { requestId: item.id, deciderId: input.deciderId, decision: 'approve', revision: input.revisions[index]!, evidence: input.evidence, approvedAllOf: input.bundleId, at });
    if (result.ok) approved.push({ requestId: item.id, item: name, outcome: result.outcome === 'approved' ? 'approved' : 'recorded' });
    else left.push({ requestId: item.id, item: name, refusal: result.refusal });
  }
  if (approved.length === 0 && left.length === 0) return refuse('not_pending', 'Every item of this request is already decided.');
  return { ok: true, approved, left };
}
