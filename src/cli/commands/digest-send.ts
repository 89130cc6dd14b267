import { WebClient } from '@slack/web-api';
import { migrateEnvSchema, serviceEnvFields } from '../../config/env.ts';
import { loadPolicyFile } from '../../config/policy-file.ts';
import { buildDigest, sendDigest, type DigestPeriodKind } from '../../slack/digests.ts';
import type { SlackMessage } from '../../slack/blocks/slack-message.ts';
import { createDatabase } from '../../store/database.ts';
import { CliError, EXIT } from '../cli-error.ts';
import { readEnv } from '../read-env.ts';

const dryRunEnvSchema = migrateEnvSchema.extend(serviceEnvFields.pick({ LATCH_POLICY_FILE: true }).shape);
const sendEnvSchema = dryRunEnvSchema.extend(serviceEnvFields.pick({ SLACK_BOT_TOKEN: true, SLACK_API_URL: true }).shape);

/**
 * `latch digest send <name> [--so-far] [--dry-run]`: builds the policy's digest `name` for the last
 * period its schedule covers (with --so-far: from its latest run up to now), and posts it to its
 * channel, or with --dry-run prints it and posts nothing.
 */
export async function digestSendCommand(name: string, dryRun: boolean, period: DigestPeriodKind = 'last', now: Date = new Date()): Promise<void> {
  const env = readEnv(dryRunEnvSchema);
  // Posting needs the bot token too; a dry run must work without it (for a look from a laptop).
  const slack = dryRun ? null : readEnv(sendEnvSchema);
  const loaded = await loadPolicyFile(env.LATCH_POLICY_FILE);
  if (!loaded.ok) {
    throw new CliError([`the policy file ${env.LATCH_POLICY_FILE} has ${loaded.problems.length} problem(s):`, ...loaded.problems.map((problem) => `  ${problem}`)].join('\n'), EXIT.config);
  }
  const db = createDatabase({ databaseUrl: env.DATABASE_URL, poolSize: 4 });
  try {
    if (dryRun) {
      const built = await buildDigest(db, loaded.policy, name, now, period).catch(asCliError);
      process.stdout.write(`${asText(built.message)}\n`);
      return;
    }
    if (!slack) throw new Error('unreachable: a send reads the Slack settings');
    const client = new WebClient(slack.SLACK_BOT_TOKEN, slack.SLACK_API_URL ? { slackApiUrl: slack.SLACK_API_URL } : {});
    const built = await sendDigest(client, db, loaded.policy, name, now, period).catch(asCliError);
    process.stdout.write(`digest ${name} (${built.report.since.toISOString()} to ${built.report.until.toISOString()}) posted to ${built.digest.channel}\n`);
  } finally {
    await db.$disconnect();
  }
}

function asCliError(error: unknown): never {
  const slackError = (error as { data?: { error?: string } }).data?.error;
  throw new CliError(slackError ? `Slack refused the digest: ${slackError}` : (error as Error).message);
}

/** The message as a terminal shows it: dates as their fallback text, mentions as @ids. */
function asText(message: SlackMessage): string {
  const texts = (message.blocks ?? []).flatMap((block) => {
    const node = block as { text?: { text: string }; elements?: Array<{ text?: string }> };
    if (node.text) return [node.text.text];
    return (node.elements ?? []).flatMap((element) => (element.text ? [element.text] : []));
  });
  return texts
    .join('\n\n')
    .replace(/<!date\^\d+\^[^|>]*\|([^>]*)>/g, '$1')
    .replace(/<@([A-Z0-9]+)>/g, '@$1')
    .replace(/<!subteam\^([A-Z0-9]+)>/g, '@$1');
}
