import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPolicyFile } from '../../../src/config/policy-file.ts';
import type { ApproverHealth } from '../../../src/domain/approver-health.ts';
import { computeApproverHealth } from '../../../src/services/compute-approver-health.ts';
import { computeDigest, type DigestReport } from '../../../src/services/compute-digest.ts';
import { createDatabase, type Database } from '../../../src/store/database.ts';
import { approverHealthFromHistory, digestFromHistory, readAuditTrail, replayAuditTrail, type ReplayedHistory } from '../../helpers/digest-from-audit-trail.ts';
import { runLatch, runSeed } from '../../helpers/latch-process.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/test-database.ts';

/**
 * Digests over a history written by `npm run seed`, checked against the same numbers worked out a
 * second way: the audit trail read into the test and replayed in TypeScript
 * (test/helpers/digest-from-audit-trail.ts), not the digest's SQL over the request and grant rows.
 *
 * The history is fixed (seed, size and end given), so the periods below always hold every kind of
 * thing a digest reports; the test asserts they do, so it cannot pass on empty numbers.
 */
const EXAMPLE_POLICY = fileURLToPath(new URL('../../../policy.example.yaml', import.meta.url));
// Two seeds run side by side on a machine other tests share: a minute or two, more under load.
const SEEDING = 360_000;
const REQUESTS = 400;
const DAYS = 3;
const SEED = '40';
/** A Thursday evening: the history runs from Monday evening, through office hours when a rule approves reads by itself. */
const HISTORY_END = new Date('2026-03-12T18:00:00.000Z');
const HISTORY_START = new Date(HISTORY_END.getTime() - DAYS * 24 * 3600_000);
const WEDNESDAY = { since: new Date('2026-03-11T00:00:00Z'), until: new Date('2026-03-12T00:00:00Z') };

const RECENT_REQUESTS = 200;

const env = (database: TestDatabase) => ({ DATABASE_URL: database.url, LATCH_POLICY_FILE: EXAMPLE_POLICY });

/** The history `npm run seed` writes with SEED up to HISTORY_END, and that history replayed from its audit trail. */
let fixed: TestDatabase;
let db: Database;
let history: ReplayedHistory;
/** Seeded up to now, for `latch digest send`, which reports the last period before the real now. */
let recent: TestDatabase;
let seededFrom: Date;

async function seed(database: TestDatabase, requests: number, until: Date): Promise<void> {
  const seeded = await runSeed(['--requests', String(requests), '--days', String(DAYS), '--seed', SEED, '--until', until.toISOString()], env(database));
  if (seeded.code !== 0 || seeded.stderr !== '') throw new Error(`npm run seed failed (${seeded.code}):\n${seeded.stdout}\n${seeded.stderr}`);
}

beforeAll(async () => {
  [fixed, recent] = await Promise.all([createTestDatabase(), createTestDatabase()]);
  db = createDatabase({ databaseUrl: fixed.url, poolSize: 4 });
  const now = new Date();
  seededFrom = new Date(now.getTime() - DAYS * 24 * 3600_000);
  await Promise.all([seed(fixed, REQUESTS, HISTORY_END), seed(recent, RECENT_REQUESTS, now)]);
  history = replayAuditTrail(await readAuditTrail(db));
}, SEEDING);
afterAll(async () => {
  await db?.$disconnect();
  await Promise.all([fixed?.drop(), recent?.drop()]);
});

/** The digest's numbers that are exact, and its latency to within floating-point rounding. */
function expectSameDigest(actual: DigestReport, expected: DigestReport): void {
  const { decisionLatency: actualLatency, ...actualExact } = actual;
  const { decisionLatency: expectedLatency, ...expectedExact } = expected;
  expect(actualExact).toEqual(expectedExact);
  if (actualLatency === null || expectedLatency === null) return expect(actualLatency).toEqual(expectedLatency);
  expect(actualLatency.medianSeconds).toBeCloseTo(expectedLatency.medianSeconds, 6);
  expect(actualLatency.p90Seconds).toBeCloseTo(expectedLatency.p90Seconds, 6);
}

/** Every kind of thing the digest reports happens in the period: a comparison of zeros proves nothing. */
function expectEveryKind(expected: DigestReport): void {
  for (const state of ['revoked', 'denied', 'cancelled', 'expired']) expect(expected.requestsByState[state], `requests ${state}`).toBeGreaterThan(0);
  expect(expected.approvedByPolicy, 'approved by policy').toBeGreaterThan(0);
  expect(expected.approvedByPeople, 'approved by people').toBeGreaterThan(0);
  expect(expected.denied, 'denied').toBeGreaterThan(0);
  expect(expected.breakGlass.filter((use) => use.reviewedBy !== null).length, 'break-glass reviewed').toBeGreaterThan(0);
  expect(expected.breakGlass.filter((use) => use.reviewedBy === null).length, 'break-glass not reviewed').toBeGreaterThan(0);
  expect(expected.activeGrants, 'grants active').toBeGreaterThan(0);
  expect(expected.longestActive.length, 'longest grants').toBeGreaterThan(0);
  expect(expected.lateRevocations, 'late revocations').toBeGreaterThan(0);
  expect(expected.failedRevocationAttempts, 'failed revocation attempts').toBeGreaterThan(0);
  expect(expected.decisionLatency?.p90Seconds, 'time to decision').toBeGreaterThan(expected.decisionLatency?.medianSeconds ?? Infinity);
  expect(expected.topRequesters.length, 'top requesters').toBe(5);
  expect(expected.topResources.length, 'top resources').toBeGreaterThan(1);
}

describe('a digest over a seeded history', () => {
  it('reports for a day inside it what the audit trail, replayed, says happened that day', async () => {
    const expected = digestFromHistory(history, WEDNESDAY.since, WEDNESDAY.until);
    expectEveryKind(expected);
    expect(expected.requestsTotal).toBeLessThan(REQUESTS);
    expectSameDigest(await computeDigest(db, WEDNESDAY.since, WEDNESDAY.until), expected);
  });

  it('reports for the whole history every request seeded, and what the audit trail says of them', async () => {
    const expected = digestFromHistory(history, HISTORY_START, HISTORY_END);
    expectEveryKind(expected);
    expect(expected.requestsTotal).toBe(REQUESTS);
    expect(expected.requestsByState.failed, 'requests failed').toBeGreaterThan(0);
    expectSameDigest(await computeDigest(db, HISTORY_START, HISTORY_END), expected);
  });

  it('reports access left open after the history as overdue a day later, when no Latch ran to revoke it', async () => {
    const since = HISTORY_END;
    const until = new Date(HISTORY_END.getTime() + 24 * 3600_000);
    const expected = digestFromHistory(history, since, until);
    expect(expected.requestsTotal).toBe(0);
    expect(expected.overdueNow).toBeGreaterThan(0);
    expect(expected.overdueNow).toBeLessThanOrEqual(expected.activeGrants);
    expectSameDigest(await computeDigest(db, since, until), expected);
  });
});

/** The digest's approver health in the replay's order (by group key and ids), percentiles to within rounding. */
function expectSameApproverHealth(actual: ApproverHealth, expected: ApproverHealth): void {
  const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  const times = [...actual.decisionTimes].sort((a, b) => byText(a.group.key, b.group.key));
  expect(times.map(({ group, decisions }) => ({ group, decisions }))).toEqual(expected.decisionTimes.map(({ group, decisions }) => ({ group, decisions })));
  times.forEach((row, index) => {
    expect(row.medianSeconds).toBeCloseTo(expected.decisionTimes[index]!.medianSeconds, 6);
    expect(row.p90Seconds).toBeCloseTo(expected.decisionTimes[index]!.p90Seconds, 6);
  });
  expect([...actual.quickApprovers].sort((a, b) => byText(a.approverId, b.approverId))).toEqual(expected.quickApprovers);
  expect([...actual.mutualApprovals].sort((a, b) => byText(a.people.join(' '), b.people.join(' ')))).toEqual(expected.mutualApprovals);
  const byResource = (entry: ApproverHealth['expiredUndecided']['byGroup'][number]) => ({ ...entry, resources: [...entry.resources].sort((a, b) => byText(a.resourceId, b.resourceId)) });
  expect({ total: actual.expiredUndecided.total, byGroup: actual.expiredUndecided.byGroup.map(byResource).sort((a, b) => byText(a.group.key, b.group.key)) }).toEqual(expected.expiredUndecided);
}

describe('approver health over a seeded history', () => {
  // The seed's first approvals come half a minute or more after the request: the longest threshold
  // a policy may set (10m) makes some quick, so the comparison is not one of empty lists.
  const RUBBER_STAMP_UNDER = 600;

  // Two SRE leads approve each other's requests in the whole history (not on the Wednesday).
  it.each([
    ['a day inside it', WEDNESDAY.since, WEDNESDAY.until, false],
    ['the whole history', HISTORY_START, HISTORY_END, true],
  ])('reports for %s what the audit trail, replayed, says approvers did', async (_, since, until, withPairs) => {
    const loaded = await loadPolicyFile(EXAMPLE_POLICY);
    if (!loaded.ok) throw new Error(loaded.problems.join('\n'));
    const { resources } = loaded.policy;
    const expected = approverHealthFromHistory(history, resources, since, until, RUBBER_STAMP_UNDER);
    expect(expected.decisionTimes.length, 'approver groups that decided').toBeGreaterThan(1);
    expect(expected.quickApprovers.length, 'quick approvers').toBeGreaterThan(0);
    expect(expected.expiredUndecided.total, 'expired undecided').toBeGreaterThan(0);
    if (withPairs) expect(expected.mutualApprovals.length, 'people approving each other').toBeGreaterThan(0);
    expectSameApproverHealth(await computeApproverHealth(db, { resources, since, until, rubberStampUnderSeconds: RUBBER_STAMP_UNDER }), expected);
  });
});

describe('latch digest send --dry-run over a history seeded up to now', () => {
  it(
    'prints for the last daily period the numbers the audit trail, replayed, gives for it',
    async () => {
      const sent = await runLatch(['digest', 'send', 'daily', '--dry-run'], env(recent));
      expect(sent.stderr).toBe('');
      expect(sent.code).toBe(0);
      const printed = readPrintedDigest(sent.stdout);

      const recentDb = createDatabase({ databaseUrl: recent.url, poolSize: 1 });
      let expected: DigestReport;
      try {
        expected = digestFromHistory(replayAuditTrail(await readAuditTrail(recentDb)), new Date(`${printed.since}Z`), new Date(`${printed.until}Z`));
      } finally {
        await recentDb.$disconnect();
      }
      // The period is the day before the latest 09:00 in Berlin: inside the three seeded days (how
      // busy depends on the weekday the test runs on), with access held now.
      expect(new Date(`${printed.until}Z`).getTime() - new Date(`${printed.since}Z`).getTime()).toBe(24 * 3600_000);
      expect(new Date(`${printed.since}Z`).getTime()).toBeGreaterThan(seededFrom.getTime());
      expect(expected.requestsTotal).toBeGreaterThan(0);
      expect(expected.activeGrants).toBeGreaterThan(0);

      const { decisionLatency: printedLatency, ...printedExact } = printed;
      expect(printedExact).toEqual({
        since: printed.since,
        until: printed.until,
        requestsTotal: expected.requestsTotal,
        requestsByState: expected.requestsByState,
        approvedByPeople: expected.approvedByPeople,
        approvedByPolicy: expected.approvedByPolicy,
        denied: expected.denied,
        // Printed unreviewed first (what the security channel must act on), then in time order.
        breakGlass: [...expected.breakGlass.filter((use) => !use.reviewedBy), ...expected.breakGlass.filter((use) => use.reviewedBy)].map((use) => ({ requesterId: use.requesterId, role: use.role, resourceId: use.resourceId, at: minute(use.at), reviewedBy: use.reviewedBy })),
        activeGrants: expected.activeGrants,
        longestActive: expected.longestActive.map((grant) => ({
          requesterId: grant.requesterId,
          principal: grant.principal,
          role: grant.role,
          resourceId: grant.resourceId,
          seconds: shownAs(grant.expiresAt.getTime() / 1000 - grant.grantedAt.getTime() / 1000),
          until: minute(grant.expiresAt),
        })),
        lateRevocations: expected.lateRevocations,
        failedRevocationAttempts: expected.failedRevocationAttempts,
        overdueNow: expected.overdueNow,
        topRequesters: expected.topRequesters,
        topResources: expected.topResources,
        chainHead: expected.chainHead,
      });
      expect(printedLatency).toEqual(
        expected.decisionLatency && { medianSeconds: shownAs(expected.decisionLatency.medianSeconds), p90Seconds: shownAs(expected.decisionLatency.p90Seconds) },
      );
    },
    SEEDING,
  );
});

/** A time as the dry run prints it: to the minute, in UTC. */
function minute(at: Date): string {
  return at.toISOString().slice(0, 16).replace('T', ' ');
}

/** A length as the digest shows it: whole minutes from a minute up, whole seconds below. */
function shownAs(seconds: number): number {
  return seconds >= 60 ? Math.round(seconds / 60) * 60 : Math.round(seconds);
}

/** `1d 2h 5m` or `40s`, in seconds. */
function secondsOf(text: string): number {
  const units: Record<string, number> = { d: 86_400, h: 3600, m: 60, s: 1 };
  const parts = text.split(' ').map((part) => /^(\d+)([dhms])$/.exec(part));
  if (parts.some((part) => !part)) throw new Error(`not a duration: ${text}`);
  return parts.reduce((sum, part) => sum + Number(part![1]) * units[part![2]!]!, 0);
}

/** What `latch digest send --dry-run` printed, read back into numbers. */
function readPrintedDigest(stdout: string) {
  const one = (pattern: RegExp) => {
    const match = pattern.exec(stdout);
    if (!match) throw new Error(`the digest has no line like ${pattern}:\n${stdout}`);
    return match;
  };
  const period = one(/^(\d{4}-\d\d-\d\d \d\d:\d\d) UTC – (\d{4}-\d\d-\d\d \d\d:\d\d) UTC$/m);
  const requests = one(/^\*Requests\*: (\d+)(?: \((.*)\))?$/m);
  const approved = one(/^\*Approved\*: (\d+) by people, (\d+) by policy · \*Denied\*: (\d+)$/m);
  const latency = one(/^\*Time to decision\*: (?:median (.+), p90 (.+)|no decisions by people)$/m);
  const active = one(/^\*Active grants now\*: (\d+)/m);
  const revocations = one(/^\*Revocations\*: (\d+) more than a minute late, (\d+) failed attempt\(s\)(?:, none overdue| · 🚨 \*(\d+) overdue now\*)$/m);
  const head = one(/audit chain head: event (\d+), `([0-9a-f]{64})`/);
  const tops = (label: string, item: RegExp) =>
    [...(new RegExp(`^\\*${label}\\*: (.*)$`, 'm').exec(stdout)?.[1] ?? '').matchAll(item)].map((match) => ({ id: match[1]!, requests: Number(match[2]) }));
  return {
    since: period[1]!,
    until: period[2]!,
    requestsTotal: Number(requests[1]),
    requestsByState: Object.fromEntries((requests[2] ?? '').split(', ').filter(Boolean).map((part) => part.split(' ').reverse()).map(([state, count]) => [state, Number(count)])),
    approvedByPeople: Number(approved[1]),
    approvedByPolicy: Number(approved[2]),
    denied: Number(approved[3]),
    decisionLatency: latency[1] ? { medianSeconds: secondsOf(latency[1]), p90Seconds: secondsOf(latency[2]!) } : null,
    breakGlass: [...stdout.matchAll(/^• @(\w+): `([^`]+)` on `([^`]+)`, (\S+ \S+) UTC, (?:reviewed by @(\w+)|⚠️ \*not reviewed\* \(due \S+ \S+ UTC\))$/gm)].map((match) => ({
      requesterId: match[1]!,
      role: match[2]!,
      resourceId: match[3]!,
      at: match[4]!,
      reviewedBy: match[5] ?? null,
    })),
    activeGrants: Number(active[1]),
    longestActive: [...stdout.matchAll(/^• @(\w+) as `([^`]+)`: `([^`]+)` on `([^`]+)` for (.+), until (\S+ \S+) UTC$/gm)].map((match) => ({
      requesterId: match[1]!,
      principal: match[2]!,
      role: match[3]!,
      resourceId: match[4]!,
      seconds: secondsOf(match[5]!),
      until: match[6]!,
    })),
    lateRevocations: Number(revocations[1]),
    failedRevocationAttempts: Number(revocations[2]),
    overdueNow: Number(revocations[3] ?? 0),
    topRequesters: tops('Top requesters', /@(\w+) \((\d+)\)/g),
    topResources: tops('Top resources', /`([^`]+)` \((\d+)\)/g),
    chainHead: { seq: BigInt(head[1]!), hash: head[2]! },
  };
}
