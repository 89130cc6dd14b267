import { loadPolicyOrFail } from '../load-policy.ts';

/**
 * `latch policy check [file]`: validates a policy file the way `latch start` will, without any
 * service: for CI on the repository that holds the policy. Exit 1 and one line per problem (path
 * and line) when it is wrong.
 */
export async function policyCheckCommand(file: string | undefined): Promise<void> {
  const path = file ?? process.env.LATCH_POLICY_FILE ?? 'policy.yaml';
  const { resources, machines, version } = await loadPolicyOrFail(path);
  const machineList = machines.length > 0 ? `; ${machines.length} machine(s): ${machines.map((m) => m.id).join(', ')}` : '';
  process.stdout.write(`${path}: valid; ${resources.length} resource(s): ${resources.map((r) => r.id).join(', ')}${machineList}; version ${version.slice(0, 12)}\n`);
}
