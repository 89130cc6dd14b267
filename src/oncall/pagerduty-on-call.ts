import { z } from 'zod';
import type { OnCallCondition, OnCallFacts, OnCallShift } from '../domain/on-call.ts';
import { getJson, OnCallUnavailable, type OnCallHttp } from './on-call-http.ts';
import type { OnCallSource } from './on-call-source.ts';

export const PAGERDUTY_API_URL = 'https://api.pagerduty.com';
const PAGE_SIZE = 100;
/** More pages than this is more on-call entries than one check should read: it fails closed. */
const MAX_PAGES = 10;

const reference = z.object({ id: z.string() });

// GET /oncalls with include[]=users: each entry's user is the full user, with its login email.
const oncallsPage = z.object({
  oncalls: z.array(
    z.object({
      user: z.object({ id: z.string(), email: z.string().optional() }),
      schedule: reference.nullable().optional(),
      escalation_policy: reference.nullable().optional(),
      escalation_level: z.number().int().nullable().optional(),
      end: z.string().nullable().optional(),
    }),
  ),
  more: z.boolean().optional(),
});

const incidentsPage = z.object({
  incidents: z.array(z.object({ id: z.string(), status: z.string(), service: reference })),
  more: z.boolean().optional(),
});

/**
 * PagerDuty's REST API v2, with a read-only API key (`Authorization: Token token=…`). Who is on
 * call: GET /oncalls for the moment of the check, once for the schedules and once for the
 * escalation policies (PagerDuty ANDs the two filters; the rule means either). Open incidents:
 * GET /incidents with the triggered and acknowledged statuses on the rule's services.
 */
export class PagerDutyOnCall implements OnCallSource {
  private readonly http: OnCallHttp;

  constructor(apiKey: string, baseUrl = PAGERDUTY_API_URL) {
    this.http = { service: 'PagerDuty', baseUrl, authorization: `Token token=${apiKey}`, accept: 'application/vnd.pagerduty+json;version=2' };
  }

  async facts(condition: OnCallCondition, now: Date, signal: AbortSignal): Promise<OnCallFacts> {
    const shifts: OnCallShift[] = [];
    if (condition.schedules.length > 0) shifts.push(...(await this.onCalls('schedule_ids[]', condition.schedules, now, signal)));
    if (condition.escalationPolicies.length > 0) shifts.push(...(await this.onCalls('escalation_policy_ids[]', condition.escalationPolicies, now, signal)));
    const servicesWithOpenIncident = condition.incidentOpenOn.length > 0 ? await this.servicesWithOpenIncident(condition.incidentOpenOn, signal) : [];
    return { shifts, servicesWithOpenIncident };
  }

  private async onCalls(filter: string, ids: readonly string[], now: Date, signal: AbortSignal): Promise<OnCallShift[]> {
    const shifts: OnCallShift[] = [];
    for (let page = 0, more = true; more; page++) {
      if (page === MAX_PAGES) throw new OnCallUnavailable(`PagerDuty listed more than ${MAX_PAGES * PAGE_SIZE} on-call entries`);
      const query = new URLSearchParams([['include[]', 'users'], ['earliest', 'true'], ['since', now.toISOString()], ['until', now.toISOString()], ['limit', String(PAGE_SIZE)], ['offset', String(page * PAGE_SIZE)]]);
      for (const id of ids) query.append(filter, id);
      const answer = await getJson(this.http, '/oncalls', query, oncallsPage, signal);
      for (const entry of answer.oncalls) {
        // A user without an email cannot be matched to anyone, and nothing is guessed instead.
        if (!entry.user.email) continue;
        const end = entry.end ? new Date(entry.end) : null;
        if (end && Number.isNaN(end.getTime())) throw new OnCallUnavailable('PagerDuty answered with an on-call end Latch cannot read');
        shifts.push({ email: entry.user.email.toLowerCase(), end, scheduleId: entry.schedule?.id ?? null, escalationPolicyId: entry.escalation_policy?.id ?? null, level: entry.escalation_level ?? null });
      }
      more = answer.more === true && answer.oncalls.length > 0;
    }
    return shifts;
  }

  private async servicesWithOpenIncident(services: readonly string[], signal: AbortSignal): Promise<string[]> {
    const open = new Set<string>();
    for (let page = 0, more = true; more; page++) {
      if (page === MAX_PAGES) break; // enough pages to know which services have one
      const query = new URLSearchParams([['statuses[]', 'triggered'], ['statuses[]', 'acknowledged'], ['limit', String(PAGE_SIZE)], ['offset', String(page * PAGE_SIZE)]]);
      for (const id of services) query.append('service_ids[]', id);
      const answer = await getJson(this.http, '/incidents', query, incidentsPage, signal);
      for (const incident of answer.incidents) {
        // Read back, not assumed from the filter: a resolved one never keeps access open.
        if ((incident.status === 'triggered' || incident.status === 'acknowledged') && services.includes(incident.service.id)) open.add(incident.service.id);
      }
      more = answer.more === true && answer.incidents.length > 0 && open.size < services.length;
    }
    return [...open];
  }
}
