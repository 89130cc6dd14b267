import { loadPolicyOrFail } from '../load-policy.ts';
import { describeOutcome, explainRequest } from '../../domain/request-outcome.ts';
import { formatScope } from '../../domain/scope-rules.ts';
import { CliError } from '../cli-error.ts';

export interface ExplainArguments {
  requester: string;
  resource: string;
  role: string;
  duration: string;
  /** User groups the requester is in (nothing is looked up in Slack). */
  groups: string[];
  /** When it would be asked; now when absent. */
  at: Date;
  file: string;
  /** The scope asked for (`--scope customer=4711`), for a role with scope parameters. */
  scope?: Record<string, string[]> | null;
}

/**
 * `latch policy explain <requester> <resource> <role> <duration>`: what the policy would do with
 * that request, and why: who may approve and how many, which auto-approval rule would approve it
 * (and why each other one would not), or why it would be refused. Exit 1 when it would be refused.
 */
export async function policyExplainCommand(args: ExplainArguments): Promise<void> {
  const policy = await loadPolicyOrFail(args.file);
  const explanation = explainRequest(policy, {
    requesterId: args.requester,
    requesterGroups: new Set(args.groups),
    resourceId: args.resource,
    role: args.role,
    duration: args.duration,
    at: args.at,
    scope: args.scope ?? null,
  });
  const groups = args.groups.length > 0 ? `in ${args.groups.join(', ')}` : 'in no user groups (pass --groups S…,S… to say which)';
  const lines = [
    `${args.file} (version ${policy.version.slice(0, 12)}), at ${args.at.toISOString()}`,
    `${args.requester}, ${groups}, asks for ${args.role}${args.scope ? ` (${formatScope(args.scope)})` : ''} on ${args.resource} for ${args.duration}:`,
    `  ${describeOutcome(explanation.outcome)}`,
  ];
  if (explanation.rules.length > 0) {
    lines.push('  auto-approval rules, in order:');
    for (const verdict of explanation.rules) lines.push(`    ${verdict.rule.name}: ${verdict.applies ? 'applies' : `does not apply: ${verdict.because}`}`);
  }
  if (explanation.outcome.kind !== 'refused' && explanation.requirements.length > 0) lines.push(`  the request must also give ${explanation.requirements.join('; ')}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  if (explanation.outcome.kind === 'refused') throw new CliError('the policy would refuse this request');
}
