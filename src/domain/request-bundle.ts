/**
 * One request for several resources at once (a bundle): each item is a resource and one of its
 * roles, and becomes a request of its own (its own decision, grant, revocation and audit trail).
 * What is decided here is only what makes a list of items acceptable as one request, and which
 * item's approval rule is the strictest (its approval channel shows the one card for them all).
 */

/**
 * The most items one request may hold. The card shows two blocks an item (a line and its buttons)
 * within Slack's 50 blocks a message, and approvers decide a short list better than a long one.
 */
export const MAX_BUNDLE_ITEMS = 10;

export interface BundleItem {
  resourceId: string;
  role: string;
  /** The scope asked for this item, when its role declares scope parameters (domain/scope-rules.ts). */
  scope?: Readonly<Record<string, readonly unknown[]>> | null;
}

/** How an item is named to people: `prod-db:read`, as the inline command takes it. */
export function itemName(item: BundleItem): string {
  return `${item.resourceId}:${item.role}`;
}

/** Why this list of items cannot be one request; null when it can. */
export function bundleRefusal(items: readonly BundleItem[]): string | null {
  if (items.length === 0) return 'Name at least one resource and role.';
  if (items.length > MAX_BUNDLE_ITEMS) {
    return `One request can hold at most ${MAX_BUNDLE_ITEMS} resource and role pairs, and this one has ${items.length}: split it into several requests.`;
  }
  const seen = new Set<string>();
  for (const item of items) {
    const name = itemName(item);
    if (seen.has(name)) return `${name} is asked for twice: name each resource and role once.`;
    seen.add(name);
  }
  return null;
}

/**
 * Reads the inline command's list, `prod-db:read,billing-db:admin`: comma-separated pairs, each
 * `resource:role`. A single word without `:` is not a list (the command's `<resource> <role>` form).
 */
export function parseItemList(text: string): { ok: true; items: BundleItem[] } | { ok: false; message: string } {
  const parts = text.split(',');
  const items: BundleItem[] = [];
  for (const part of parts) {
    const match = /^([^:\s]+):([^:\s]+)$/.exec(part.trim());
    if (!match) return { ok: false, message: `"${part.trim().slice(0, 80)}" is not a resource:role pair: write the list as resource:role pairs separated by commas, e.g. prod-db:read,billing-db:admin.` };
    items.push({ resourceId: match[1]!, role: match[2]! });
  }
  return { ok: true, items };
}

/**
 * The item whose approval card shows the bundle: the one whose rule needs the most approvals, the
 * first of those on a tie, so the approvers of the strictest rule see every item.
 */
export function strictestItemIndex(requiredApprovals: readonly number[]): number {
  let strictest = 0;
  for (const [index, required] of requiredApprovals.entries()) if (required > requiredApprovals[strictest]!) strictest = index;
  return strictest;
}
