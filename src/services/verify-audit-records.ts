import { bundleCreatedIn, checkDecisionEvidence, PERSON_DECISION_ACTIONS, type ApproveAllFacts, type DecisionInteractions, type EvidenceVerdict } from '../domain/decision-evidence.ts';
import { compareWithRows, replayRequest, type StateMismatch } from '../domain/request-replay.ts';
import type { Database } from '../store/database.ts';
import type { AccessRequest, Approval, Grant } from '../store/generated/client.ts';

export interface AuditRecordsOptions {
  /** Slack's signing secret: with it each signature is checked; without, everything else is. */
  signingSecret: string | null;
  interactions: DecisionInteractions;
}

export interface AuditRecordsReport {
  requests: number;
  /** Row fields that their requests' events do not account for. */
  mismatches: StateMismatch[];
  decisions: {
    signed: number;
    signatureChecked: boolean;
    socketMode: number;
    seeded: number;
    predateEvidence: number;
    /** Decisions with no evidence, or evidence that does not verify or is of something else. */
    problems: string[];
  };
}

const BATCH = 500;

/**
 * What the chain alone cannot show, for a chain already verified intact: that the state rows are
 * what the events say (whoever holds DATABASE_URL can UPDATE them), and that every person's
 * decision in the chain comes with the signed Slack request that made it (they can INSERT events
 * too). Both walks go in batches, in constant memory.
 */
export async function verifyAuditRecords(db: Database, options: AuditRecordsOptions): Promise<AuditRecordsReport> {
  const report: AuditRecordsReport = {
    requests: 0,
    mismatches: [],
    decisions: { signed: 0, signatureChecked: options.signingSecret !== null, socketMode: 0, seeded: 0, predateEvidence: 0, problems: [] },
  };
  await compareStateRows(db, report);
  await checkDecisions(db, options, report);
  return report;
}

async function compareStateRows(db: Database, report: AuditRecordsReport): Promise<void> {
  let after: string | null = null;
  for (;;) {
    const requests: Array<AccessRequest & { approvals: Approval[]; grant: Grant | null }> = await db.accessRequest.findMany({
      where: after === null ? {} : { id: { gt: after } },
      orderBy: { id: 'asc' },
      take: BATCH,
      include: { approvals: true, grant: true },
    });
    if (requests.length === 0) return;
    const ids = requests.map((request) => request.id);
    const events = await db.auditEvent.findMany({
      where: { requestId: { in: ids } },
      orderBy: { seq: 'asc' },
      select: { seq: true, at: true, actor: true, action: true, data: true, requestId: true },
    });
    const eventsOf = new Map<string, typeof events>();
    for (const event of events) eventsOf.set(event.requestId!, [...(eventsOf.get(event.requestId!) ?? []), event]);
    for (const request of requests) {
      const replayed = replayRequest(eventsOf.get(request.id) ?? []);
      report.mismatches.push(...compareWithRows(replayed, { request, approvals: request.approvals, grant: request.grant }));
    }
    report.requests += requests.length;
    after = ids.at(-1)!;
    if (requests.length < BATCH) return;
  }
}

async function checkDecisions(db: Database, options: AuditRecordsOptions, report: AuditRecordsReport): Promise<void> {
  const start = await db.auditEvidenceStart.findFirst({ orderBy: { afterSeq: 'asc' } });
  const rules = { evidenceStartsAfter: start?.afterSeq ?? 0n, signingSecret: options.signingSecret, interactions: options.interactions };
  // One click is one transaction: its events share their time. The same signed request behind
  // events at another time is a real click copied onto a decision nobody made.
  const firstUse = new Map<string, { seq: bigint; at: number }>();
  let after = 0n;
  for (;;) {
    const events = await db.auditEvent.findMany({
      where: { seq: { gt: after }, action: { in: [...PERSON_DECISION_ACTIONS] } },
      orderBy: { seq: 'asc' },
      take: BATCH,
    });
    const evidence = await db.decisionEvidence.findMany({ where: { seq: { in: events.map((event) => event.seq) } } });
    const evidenceOf = new Map(evidence.map((row) => [row.seq, row]));
    const itemOf = await bundleItemsOf(db, events);
    for (const event of events) {
      const kept = evidenceOf.get(event.seq) ?? null;
      const approveAll: ApproveAllFacts | undefined = kept
        ? { itemOf: event.requestId === null ? null : (itemOf.get(event.requestId) ?? null), clickFirstSeq: firstUse.get(kept.slackSignature)?.seq ?? event.seq }
        : undefined;
      const verdict = checkDecisionEvidence(event, kept, rules, approveAll);
      count(report, verdict.kind === 'signed' && kept ? (reuseOf(firstUse, event, kept.slackSignature) ?? verdict) : verdict);
    }
    if (events.length < BATCH) return;
    after = events.at(-1)!.seq;
  }
}

/**
 * The bundle each "Approve all" vote's request is an item of, as the chain says: its first
 * `request.created` event, written with the request. A later one is appended, so it is not read.
 */
async function bundleItemsOf(db: Database, votes: Array<{ requestId: string | null; data: unknown }>): Promise<Map<string, { bundleId: string; createdSeq: bigint }>> {
  const items = new Map<string, { bundleId: string; createdSeq: bigint }>();
  const requestIds = [...new Set(votes.filter((vote) => hasApprovedAllOf(vote.data) && vote.requestId !== null).map((vote) => vote.requestId!))];
  if (requestIds.length === 0) return items;
  const created = await db.auditEvent.findMany({
    where: { action: 'request.created', requestId: { in: requestIds } },
    orderBy: { seq: 'asc' },
    select: { seq: true, requestId: true, data: true },
  });
  const seen = new Set<string>();
  for (const event of created) {
    if (seen.has(event.requestId!)) continue;
    seen.add(event.requestId!);
    const bundleId = bundleCreatedIn(event.data);
    if (bundleId !== null) items.set(event.requestId!, { bundleId, createdSeq: event.seq });
  }
  return items;
}

const hasApprovedAllOf = (data: unknown) => typeof data === 'object' && data !== null && typeof (data as { approvedAllOf?: unknown }).approvedAllOf === 'string';

function reuseOf(firstUse: Map<string, { seq: bigint; at: number }>, event: { seq: bigint; at: Date; action: string; actor: string }, signature: string): EvidenceVerdict | null {
  const first = firstUse.get(signature);
  if (!first) {
    firstUse.set(signature, { seq: event.seq, at: event.at.getTime() });
    return null;
  }
  if (first.at === event.at.getTime()) return null;
  return { kind: 'problem', message: `event ${event.seq} (${event.action} by ${event.actor}) reuses the signed Slack request of event ${first.seq}, made at another time` };
}

function count(report: AuditRecordsReport, verdict: EvidenceVerdict): void {
  const { decisions } = report;
  if (verdict.kind === 'signed') decisions.signed += 1;
  else if (verdict.kind === 'problem') decisions.problems.push(verdict.message);
  else if (verdict.kind === 'unsigned') {
    if (verdict.why === 'socket-mode') decisions.socketMode += 1;
    else if (verdict.why === 'seed') decisions.seeded += 1;
    else decisions.predateEvidence += 1;
  }
}
