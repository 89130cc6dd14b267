import { loadPolicyFile } from '../config/policy-file.ts';
import type { Policy } from '../domain/policy.ts';
import { CliError, EXIT } from './cli-error.ts';

/** A file's problems as the CLI prints them: the file and how many, then one indented line each. */
export function fileProblemsError(path: string, problems: readonly string[], exitCode: number = EXIT.failure): CliError {
  return new CliError([`${path}: ${problems.length} problem(s)`, ...problems.map((problem) => `  ${problem}`)].join('\n'), exitCode);
}

/** The policy in `path`, or a CliError listing its problems with their paths and lines. */
export async function loadPolicyOrFail(path: string, exitCode: number = EXIT.failure): Promise<Policy> {
  const loaded = await loadPolicyFile(path);
  if (!loaded.ok) throw fileProblemsError(path, loaded.problems, exitCode);
  return loaded.policy;
}
