import type { z } from 'zod';

export type SettingsResult<T> = { ok: true; settings: T } | { ok: false; problems: string[] };

/**
 * A provider's settings through its zod schema, with each problem as one line that names the
 * setting (`settings.roles.read: is empty`) and never quotes a value: someone may have pasted a
 * secret where the name of its environment variable belongs.
 */
export function parseProviderSettings<S extends z.ZodObject>(
  schema: S,
  settings: Record<string, unknown>,
  providerType: string,
): SettingsResult<z.infer<S>> {
  const parsed = schema.safeParse(settings);
  if (parsed.success) return { ok: true, settings: parsed.data };
  const known = Object.keys(schema.shape).join(', ');
  const problems = parsed.error.issues.flatMap((issue) => {
    const field = ['settings', ...issue.path.map(String)].join('.');
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => `${field}.${key}: is not a ${providerType} setting (known: ${known})`);
    }
    return [`${field}: ${issue.message}`];
  });
  return { ok: false, problems };
}
