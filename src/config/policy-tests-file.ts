import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import type { RequestOutcome } from '../domain/request-outcome.ts';

/**
 * The file `latch policy test` runs: cases of "this request → this outcome", like unit tests for
 * the policy, kept beside it in the same review. Nothing is looked up: a case names the requester's
 * user groups and, where schedules matter, the time it is asked.
 */

const caseSchema = z.strictObject({
  name: z.string({ error: 'is missing: say what the case checks' }).min(1),
  request: z.strictObject({
    requester: z.string().regex(/^[UW][A-Z0-9]{2,}$/, { error: 'must be a Slack user id such as U012ABCDEF' }),
    groups: z.array(z.string().regex(/^S[A-Z0-9]{2,}$/, { error: 'must be a Slack user group id such as S0123ABCD' })).default([]),
    resource: z.string(),
    role: z.string(),
    duration: z.union([z.string(), z.number()]).transform(String),
    at: z.iso.datetime({ offset: true, error: 'must be a date and time with its offset, such as 2026-11-24T10:00:00+01:00' }).optional(),
    // The scope asked for, for a role with scope parameters: customer: ["4711"] (a single value may be bare).
    scope: z
      .record(z.string(), z.preprocess((value) => (Array.isArray(value) ? value : [value]), z.array(z.union([z.string(), z.number()]).transform(String))), {
        error: 'must be a mapping of scope parameters to values, such as customer: ["4711"]',
      })
      .optional(),
  }),
  expect: z.union(
    [
      z.strictObject({ refused: z.union([z.literal(true), z.string().min(1)]) }),
      z.strictObject({ autoApprovedBy: z.string().min(1) }),
      z.strictObject({ approvals: z.int().min(1), oneFrom: z.array(z.string()).default([]) }),
    ],
    { error: 'must be one of: refused: true (or a part of the message), autoApprovedBy: <rule>, approvals: <n> with optional oneFrom: [groups]' },
  ),
});

const testsFileSchema = z.strictObject({
  /** The policy file, relative to this file; default LATCH_POLICY_FILE, else policy.yaml. */
  policy: z.string().optional(),
  cases: z.array(caseSchema).min(1, { error: 'must list at least one case' }),
});

export type PolicyTestCase = z.infer<typeof caseSchema>;
export type Expectation = PolicyTestCase['expect'];

export type PolicyTestsLoad = { ok: true; policyPath: string | null; cases: PolicyTestCase[] } | { ok: false; problems: string[] };

export async function loadPolicyTests(path: string): Promise<PolicyTestsLoad> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    return { ok: false, problems: [`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`] };
  }
  let content: unknown;
  try {
    content = parse(text);
  } catch (error) {
    return { ok: false, problems: [`${path} is not valid YAML: ${(error as Error).message.split('\n')[0]}`] };
  }
  const parsed = testsFileSchema.safeParse(content);
  if (!parsed.success) {
    return { ok: false, problems: parsed.error.issues.map((issue) => `${issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '') || 'tests file'}: ${issue.message}`) };
  }
  return { ok: true, policyPath: parsed.data.policy ? resolve(dirname(path), parsed.data.policy) : null, cases: parsed.data.cases };
}

/** Does the outcome meet the expectation? */
export function meets(outcome: RequestOutcome, expected: Expectation): boolean {
  if ('refused' in expected) {
    return outcome.kind === 'refused' && (expected.refused === true || outcome.reasons.join(' ').includes(expected.refused));
  }
  if ('autoApprovedBy' in expected) return outcome.kind === 'auto-approved' && outcome.rule === expected.autoApprovedBy;
  return (
    outcome.kind === 'needs-approval' &&
    outcome.approvals === expected.approvals &&
    [...outcome.oneFrom].sort().join() === [...expected.oneFrom].sort().join()
  );
}

/** The expectation in the words `describeOutcome` uses, so a failure reads as a diff. */
export function describeExpectation(expected: Expectation): string {
  if ('refused' in expected) return expected.refused === true ? 'refused' : `refused, saying "${expected.refused}"`;
  if ('autoApprovedBy' in expected) return `auto-approved by rule ${expected.autoApprovedBy}`;
  const oneFrom = expected.oneFrom.length > 0 ? `, including one from ${expected.oneFrom.join(' and one from ')}` : '';
  return `needs ${expected.approvals} approval${expected.approvals === 1 ? '' : 's'}${oneFrom}`;
}
