import { bundleRefusal, itemName, strictestItemIndex, type BundleItem } from '../domain/request-bundle.ts';
import { isUniqueViolation } from '../store/request-insert.ts';
import { readBundleItems } from '../store/request-bundle-reads.ts';
import { readRequestBySubmission } from '../store/request-reads.ts';
import { lockingRequester } from '../store/requester-lock.ts';
import { inSqlTransaction } from '../store/transaction.ts';
import { publishCommitted } from './latch-events.ts';
import { refuse, type Refused } from './refusal.ts';
import {
  followUpRequest,
  pendingLimitRefusal,
  prepareRequest,
  writeRequest,
  type PreparedRequest,
  type RequestAccessInput,
  type WrittenRequest,
} from './request-access.ts';
import type { ServiceContext } from './service-context.ts';

export interface RequestAccessBundleInput extends Omit<RequestAccessInput, 'resourceId' | 'role' | 'breakGlass' | 'scope'> {
  /** The resource and role pairs (and each one's scope), in the order asked; every other answer applies to each. */
  items: BundleItem[];
}

export type RequestAccessBundleResult =
  | {
      ok: true;
      /** The id of the item whose card shows them all: every item's bundleId. */
      bundleId: string;
      /** One request an item, in the order asked. */
      items: Array<{ requestId: string; resourceId: string; role: string; autoApprovedBy: string | null }>;
      resubmitted?: true;
    }
  | Refused;

/**
 * One request for several resources: each item becomes a request of its own (its own decision,
 * grant, revocation and audit trail), with the same duration, reason and ticket. Every item is
 * checked against the policy before anything is written, and all of them are stored, each with
 * its `request.created` event, in one transaction: an item the requester may not ask for refuses
 * the whole request, naming the item, and nothing is written. Each item's own rules apply to it
 * (an auto-approval rule may approve one item and not another); the card is posted in the approval
 * channel of the strictest item (the most approvals needed, the first on a tie), and lists them all.
 */
export async function requestAccessBundle(ctx: ServiceContext, input: RequestAccessBundleInput): Promise<RequestAccessBundleResult> {
  if (input.submissionKey) {
    const made = await bundleMadeBy(ctx, input.submissionKey, input.requesterId);
    if (made) return made;
  }
  const problem = bundleRefusal(input.items);
  if (problem) return refuse('invalid_input', problem, { fields: { resource: problem } });
  const prepared: PreparedRequest[] = [];
  for (const [index, item] of input.items.entries()) {
    const one = await prepareRequest(ctx, { ...input, resourceId: item.resourceId, role: item.role, scope: item.scope ?? null, breakGlass: false });
    if (!one.ok) return namingItem(one, item, index, input.items.length);
    prepared.push(one.request);
  }
  const strictest = prepared[strictestItemIndex(prepared.map((item) => item.asked.requiredApprovals))]!;
  const bundleId = strictest.id;
  let written: WrittenRequest[];
  try {
    // Under the requester's lock, taken with BEGIN: the pending limit counts every item, and their other requests.
    const made = await inSqlTransaction(ctx.db, async (tx) => {
      const stored: WrittenRequest[] = [];
      for (const [position, item] of prepared.entries()) {
        const placement = {
          approvalChannelId: strictest.resource.approvalChannel,
          // The card's item answers for the submission: a second one finds the whole bundle through it.
          submissionKey: item === strictest ? input.submissionKey || null : null,
          bundle: { id: bundleId, position },
        };
        // The last item's insert writes every item's audit events, in its round trip.
        const one = await writeRequest(tx, ctx, item, placement, { last: position === prepared.length - 1 });
        // Over the pending limit: nothing of the bundle is kept.
        if (!one) throw new PendingLimitReached();
        stored.push(one);
      }
      return stored;
    }, lockingRequester(input.requesterId));
    written = made;
  } catch (error) {
    if (error instanceof PendingLimitReached) {
      ctx.logger.info({ requester: input.requesterId, items: input.items.length }, 'request refused: too many pending requests');
      return pendingLimitRefusal(ctx.policy().limits.pendingPerPerson);
    }
    const made = input.submissionKey && isUniqueViolation(error) ? await bundleMadeBy(ctx, input.submissionKey, input.requesterId) : null;
    if (made) return made;
    throw error;
  }
  for (const [index, item] of prepared.entries()) await followUpRequest(ctx, item, written[index]!);
  // One announcement: the card and the requester's message show every item.
  await publishCommitted(ctx, { type: 'request.created', requestId: bundleId });
  return {
    ok: true,
    bundleId,
    items: prepared.map((item, index) => ({ requestId: written[index]!.requestId, resourceId: item.resource.id, role: item.role.id, autoApprovedBy: written[index]!.rule?.name ?? null })),
  };
}

class PendingLimitReached extends Error {}

/**
 * A refusal of one item, for the whole request: every message names the item it is about, and
 * the detail says which (`item`, as `resource:role`), so a form can show it by that item.
 */
function namingItem(refused: Refused, item: BundleItem, index: number, count: number): Refused {
  const label = `${itemName(item)} (item ${index + 1} of ${count})`;
  const { code, detail, fields } = refused.refusal;
  const named = fields ? Object.fromEntries(Object.entries(fields).map(([field, message]) => [field, `${label}: ${message}`])) : undefined;
  return refuse(code, `${label}: ${refused.refusal.message} Nothing was requested.`, { detail: { ...detail, item: itemName(item) }, ...(named ? { fields: named } : {}) });
}

/** The bundle a submission already made, as requestAccessBundle reports it; null when there is none. */
async function bundleMadeBy(ctx: ServiceContext, submissionKey: string, requesterId: string): Promise<RequestAccessBundleResult | null> {
  const made = await readRequestBySubmission(ctx.db, submissionKey);
  // A key is shown to one principal: another's is not theirs to find.
  if (!made || made.requesterSlackId !== requesterId) return null;
  const items = made.bundleId ? await readBundleItems(ctx.db, made.bundleId) : [made];
  ctx.logger.info({ accessRequestId: made.id }, 'the same request was submitted again; the requests it made stand');
  return {
    ok: true,
    bundleId: made.bundleId ?? made.id,
    items: items.map((item) => ({ requestId: item.id, resourceId: item.resourceId, role: item.role, autoApprovedBy: item.decidedByRule })),
    resubmitted: true,
  };
}
