import { z } from 'zod';

/**
 * The webhook provider's settings in the policy file. The secret itself never appears here:
 * `secretEnv` names the environment variable that holds it, and the URL may not carry
 * credentials either, because the policy file is reviewed and kept in version control.
 */

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The message for a wrong type, or `is missing` when the field is absent. */
const typeError = (hint: string) => (issue: { input?: unknown }) => (issue.input === undefined ? 'is missing' : hint);

const urlSetting = z.string({ error: typeError('must be the receiver’s URL, e.g. https://access.example.com/latch') }).superRefine((value, ctx) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'is not a URL: give an absolute address such as https://access.example.com/latch' });
    return;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    ctx.addIssue({ code: 'custom', message: `must start with https:// or http://, not ${url.protocol}//` });
  } else if (url.username || url.password) {
    // Deliberately not echoed: the part before @ is a credential.
    ctx.addIssue({ code: 'custom', message: 'must not contain a user name or password: requests are signed with the secret from secretEnv' });
  }
});

const wholeNumber = (min: number, max: number, unit: string) =>
  z
    .number({ error: typeError(`must be a whole number of ${unit} from ${min} to ${max}`) })
    .int({ error: `must be a whole number of ${unit} from ${min} to ${max}` })
    .min(min, { error: `must be at least ${min} ${unit}` })
    .max(max, { error: `must be at most ${max} ${unit}` });

export const webhookSettingsSchema = z.strictObject({
  url: urlSetting,
  secretEnv: z
    .string({ error: typeError('must name the environment variable that holds the signing secret, e.g. LATCH_WEBHOOK_SECRET') })
    // Not echoed: someone may have pasted the secret itself here.
    .regex(ENV_NAME, { error: 'must be the name of an environment variable (letters, digits and _), not the secret itself' }),
  timeoutMs: wholeNumber(100, 60_000, 'milliseconds').default(5_000),
  maxAttempts: wholeNumber(1, 10, 'attempts').default(3),
  /**
   * The receiver answers `check` truthfully: after each revocation Latch sends `check` and records
   * the access verified gone only on `{"active": false}`. Off, revocations are recorded unverified.
   */
  verifyRevocations: z.boolean({ error: 'must be true or false' }).default(false),
  /**
   * The receiver grants only the `scope` a grant carries (issue 17: one customer's rows, some
   * tables). Off (the default), a request for a scoped role is refused: a receiver that ignored
   * the scope would grant the whole role.
   */
  acceptsScopes: z.boolean({ error: 'must be true or false' }).default(false),
});

export type WebhookSettings = z.infer<typeof webhookSettingsSchema>;
