import type { OnCallCondition, OnCallFacts } from '../domain/on-call.ts';

/**
 * One on-call provider's REST API, answering for one condition at one moment. Throws
 * OnCallUnavailable (on-call-http.ts) when it cannot answer; `signal` ends the whole check.
 */
export interface OnCallSource {
  facts(condition: OnCallCondition, now: Date, signal: AbortSignal): Promise<OnCallFacts>;
}
