import type { RequestView } from '../../src/services/request-view.ts';

export const REQUEST_ID = '6f1c2a4e-8b7d-4c3e-9a10-2b3c4d5e6f70';
/** User text that would broadcast and disguise a link if it reached Slack unescaped. */
export const INJECTION = '<!channel> see <https://evil|bank>';
export const INJECTION_ESCAPED = '&lt;!channel&gt; see &lt;https://evil|bank&gt;';

/** A pending request as the builders see it; override what the test is about. */
export function requestView(overrides: Partial<RequestView> = {}): RequestView {
  return {
    id: REQUEST_ID,
    requesterId: 'U1',
    resourceId: 'prod-db',
    resourceName: 'Production database',
    role: 'read',
    principal: null,
    durationSeconds: 2 * 3600,
    reason: 'Investigate the invoice job',
    ticket: null,
    state: 'pending',
    requiredApprovals: 1,
    revision: 1,
    changed: null,
    decisions: [],
    createdAt: new Date('2024-05-01T10:00:00Z'),
    pendingExpiresAt: new Date('2024-05-01T11:00:00Z'),
    decidedAt: null,
    outcomeReason: null,
    decidedByRule: null,
    startsAt: null,
    grant: null,
    extension: null,
    breakGlass: null,
    escalatedTo: [],
    requiredGroups: [],
    continuedUntil: null,
    ...overrides,
  };
}
