import { publishCommitted, type LatchEvent } from '../../services/latch-events.ts';
import type { ServiceContext } from '../../services/service-context.ts';

/**
 * Holds what a use case publishes until the listener has answered the person, then tells it. For
 * a modal's submission: its answer (the ack) must reach Slack within 3 s and carries the use
 * case's refusal, so the use case runs first and the slow work waits for the answer, as Slack
 * asks. For a refusal that also changed something: the person hears the refusal first.
 */
export function holdEvents(services: ServiceContext): { services: ServiceContext; release(): Promise<void> } {
  const held: LatchEvent[] = [];
  return {
    services: { ...services, events: { publish: async (event) => void held.push(event) } },
    async release() {
      for (const event of held.splice(0)) await publishCommitted(services, event);
    },
  };
}
