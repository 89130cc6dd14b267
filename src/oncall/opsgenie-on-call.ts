import { z } from 'zod';
import type { OnCallCondition, OnCallFacts, OnCallShift } from '../domain/on-call.ts';
import { getJson, OnCallUnavailable, type OnCallHttp } from './on-call-http.ts';
import type { OnCallSource } from './on-call-source.ts';

export const OPSGENIE_API_URL = 'https://api.opsgenie.com';
const PAGE_SIZE = 100;
const MAX_PAGES = 10;

// GET /v2/schedules/{id}/on-calls?flat=true: the on-call people's usernames, which are their emails.
const onCallsAnswer = z.object({ data: z.object({ onCallRecipients: z.array(z.string()).default([]) }) });

const incidentsPage = z.object({
  data: z.array(z.object({ id: z.string(), status: z.string(), impactedServices: z.array(z.string()).default([]) })),
  paging: z.object({ next: z.string().optional() }).optional(),
});

/**
 * Opsgenie's REST API with an API integration's key that has Read access (`Authorization:
 * GenieKey …`). Who is on call: GET /v2/schedules/{id}/on-calls, flat, for each schedule of the
 * rule. Opsgenie says who is on call now but not until when: access approved this way is ended
 * by the periodic on-call check (recheck-on-call-access), not capped in advance. Open incidents:
 * GET /v1/incidents?query=status:open, kept when one of its impacted services is the rule's.
 */
export class OpsgenieOnCall implements OnCallSource {
  private readonly http: OnCallHttp;

  constructor(apiKey: string, baseUrl = OPSGENIE_API_URL) {
    this.http = { service: 'Opsgenie', baseUrl, authorization: `GenieKey ${apiKey}` };
  }

  async facts(condition: OnCallCondition, now: Date, signal: AbortSignal): Promise<OnCallFacts> {
    const shifts: OnCallShift[] = [];
    for (const schedule of condition.schedules) {
      const query = new URLSearchParams([['scheduleIdentifierType', 'id'], ['flat', 'true'], ['date', now.toISOString()]]);
      const answer = await getJson(this.http, `/v2/schedules/${encodeURIComponent(schedule)}/on-calls`, query, onCallsAnswer, signal);
      for (const recipient of answer.data.onCallRecipients) shifts.push({ email: recipient.toLowerCase(), end: null, scheduleId: schedule, escalationPolicyId: null, level: null });
    }
    const servicesWithOpenIncident = condition.incidentOpenOn.length > 0 ? await this.servicesWithOpenIncident(condition.incidentOpenOn, signal) : [];
    return { shifts, servicesWithOpenIncident };
  }

  private async servicesWithOpenIncident(services: readonly string[], signal: AbortSignal): Promise<string[]> {
    const open = new Set<string>();
    for (let page = 0, more = true; more; page++) {
      if (page === MAX_PAGES) throw new OnCallUnavailable(`Opsgenie listed more than ${MAX_PAGES * PAGE_SIZE} open incidents`);
      const query = new URLSearchParams([['query', 'status:open'], ['limit', String(PAGE_SIZE)], ['offset', String(page * PAGE_SIZE)]]);
      const answer = await getJson(this.http, '/v1/incidents', query, incidentsPage, signal);
      for (const incident of answer.data) {
        if (incident.status !== 'open') continue;
        for (const service of incident.impactedServices) if (services.includes(service)) open.add(service);
      }
      more = answer.paging?.next !== undefined && answer.data.length === PAGE_SIZE && open.size < services.length;
    }
    return [...open];
  }
}
