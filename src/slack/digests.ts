import type { WebClient } from '@slack/web-api';
import { digestPeriod, digestPeriodSoFar } from '../domain/digest-period.ts';
import type { DigestPolicy, Policy } from '../domain/policy.ts';
import type { ApproverHealth } from '../domain/approver-health.ts';
import { computeApproverHealth } from '../services/compute-approver-health.ts';
import { computeDigest, type DigestReport } from '../services/compute-digest.ts';
import { digestMessage } from './blocks/digest-message.ts';
import type { SlackMessage } from './blocks/slack-message.ts';
import type { Database } from '../store/database.ts';

export interface BuiltDigest {
  digest: DigestPolicy;
  report: DigestReport;
  health: ApproverHealth;
  message: SlackMessage;
}

/**
 * Which period a digest covers: `last`, the last complete one (what the schedule posts), or
 * `so-far`, from the latest scheduled run up to now (a digest sent by hand to see what just happened).
 */
export type DigestPeriodKind = 'last' | 'so-far';

/** The digest named `name` in the policy, for the period its schedule gives at `now`. */
export async function buildDigest(db: Database, policy: Policy, name: string, now: Date, period: DigestPeriodKind = 'last'): Promise<BuiltDigest> {
  const digest = policy.digests.find((candidate) => candidate.name === name);
  if (!digest) {
    const known = policy.digests.map((candidate) => candidate.name);
    throw new Error(`the policy has no digest "${name}"${known.length > 0 ? `; it has ${known.join(', ')}` : ': add one under digests'}`);
  }
  const { since, until } = (period === 'so-far' ? digestPeriodSoFar : digestPeriod)(digest.schedule, digest.timeZone, now);
  const [report, health] = await Promise.all([
    computeDigest(db, since, until),
    // Approver groups as the policy in force names them: a digest describes today's groups.
    computeApproverHealth(db, { resources: policy.resources, since, until, rubberStampUnderSeconds: digest.rubberStampUnderSeconds }),
  ]);
  return { digest, report, health, message: digestMessage(digest.name, report, health) };
}

/** Builds the digest and posts it to its channel. */
export async function sendDigest(client: WebClient, db: Database, policy: Policy, name: string, now: Date, period: DigestPeriodKind = 'last'): Promise<BuiltDigest> {
  const built = await buildDigest(db, policy, name, now, period);
  await client.chat.postMessage({ channel: built.digest.channel, ...built.message });
  return built;
}
