import { relative } from 'node:path';
import { fileProblemsError, loadPolicyOrFail } from '../load-policy.ts';
import { describeExpectation, loadPolicyTests, meets } from '../../config/policy-tests-file.ts';
import { describeOutcome, explainRequest } from '../../domain/request-outcome.ts';
import { CliError } from '../cli-error.ts';

/**
 * `latch policy test [tests file]`: runs each case (a request and the outcome it should get)
 * against the policy, printing ✓ or ✗ and, for a failure, what was expected beside what the
 * policy does. Exit 1 when a case fails: run it in CI beside `policy check`.
 */
export async function policyTestCommand(testsFile: string | undefined, policyFileFallback: string): Promise<void> {
  const path = testsFile ?? 'policy.tests.yaml';
  const tests = await loadPolicyTests(path);
  if (!tests.ok) throw fileProblemsError(path, tests.problems);
  const policyPath = tests.policyPath ?? policyFileFallback;
  const policy = await loadPolicyOrFail(policyPath);

  const out: string[] = [`${path} against ${relative(process.cwd(), policyPath) || policyPath} (version ${policy.version.slice(0, 12)})`];
  let failed = 0;
  for (const testCase of tests.cases) {
    const { request } = testCase;
    const { outcome } = explainRequest(policy, {
      requesterId: request.requester,
      requesterGroups: new Set(request.groups),
      resourceId: request.resource,
      role: request.role,
      duration: request.duration,
      at: request.at ? new Date(request.at) : new Date(),
      scope: request.scope ?? null,
    });
    if (meets(outcome, testCase.expect)) {
      out.push(`  ✓ ${testCase.name}`);
      continue;
    }
    failed++;
    out.push(`  ✗ ${testCase.name}`, `      expected: ${describeExpectation(testCase.expect)}`, `      actual:   ${describeOutcome(outcome)}`);
  }
  out.push(`${tests.cases.length - failed} passed, ${failed} failed`);
  process.stdout.write(`${out.join('\n')}\n`);
  if (failed > 0) throw new CliError(`${failed} policy test case(s) failed`);
}
