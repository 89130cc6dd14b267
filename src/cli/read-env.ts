import type { z } from 'zod';
import { parseEnv } from '../config/env.ts';
import { CliError, EXIT } from './cli-error.ts';

/** The environment through `schema`, or a CliError whose lines each name one bad variable. */
export function readEnv<T extends z.ZodType>(schema: T, source: NodeJS.ProcessEnv = process.env): z.infer<T> {
  const result = parseEnv(schema, source);
  if (result.ok) return result.env;
  throw new CliError(result.problems.join('\n'), EXIT.config);
}
