import { isNamedApprover } from '../domain/access-request-rules.ts';
import { isMachineRequester } from '../domain/machine.ts';
import { judgeOnCall, onCallEmailOf } from '../domain/on-call.ts';
import type { ResourcePolicy } from '../domain/policy.ts';
import type { ServiceContext } from './service-context.ts';

/**
 * Whether someone the policy does not name as an approver is one by being on call now, as the
 * resource's `approvers.onCall` asks: true, false, or why the provider could not say (which
 * approverRefusal turns into a refusal: fail closed). Asked only when it can matter, so a named
 * approver's click costs no call to PagerDuty or Opsgenie.
 */
export async function onCallApproverStatus(
  ctx: ServiceContext,
  resource: ResourcePolicy,
  deciderId: string,
  deciderGroups: ReadonlySet<string>,
  escalatedTo: readonly string[],
): Promise<boolean | { unavailable: string }> {
  const condition = resource.approvers.onCall;
  if (!condition || isMachineRequester(deciderId) || isNamedApprover(resource, deciderId, deciderGroups, escalatedTo)) return false;
  const now = ctx.clock.now();
  const answer = ctx.onCall ? await ctx.onCall.check(condition, now) : { unavailable: 'no on-call provider is configured in Latch' };
  if ('unavailable' in answer) return answer;
  return judgeOnCall(condition, onCallEmailOf(await ctx.users.profile(deciderId)), answer.facts, now).holds;
}
