/**
 * Removes secrets from text on its way to a log. It knows the shapes of secrets (Slack tokens,
 * passwords inside connection strings) and the exact values of the ones configured, because a
 * signing secret has no recognisable shape and an error message may quote any of them.
 */
export const REDACTED = '[redacted]';

const SECRET_SHAPES: ReadonlyArray<[RegExp, string]> = [
  // Slack tokens: bot, user, app-level, configuration and refresh tokens.
  [/\bxox[abeoprs]-[A-Za-z0-9-]+/g, `xox-${REDACTED}`],
  [/\bxapp-[A-Za-z0-9-]+/g, `xapp-${REDACTED}`],
  // user:password@ inside any scheme://… URL, e.g. postgresql:// and redis://.
  [/(\b[a-z][a-z0-9+.-]*:\/\/[^\s:@/"'\\]*):[^\s@/"'\\]+@/gi, `$1:${REDACTED}@`],
];

// Values shorter than this are too likely to match ordinary text to be replaced blindly.
const MIN_SECRET_LENGTH = 6;

export type SecretScrubber = (text: string) => string;

export function createSecretScrubber(knownSecrets: ReadonlyArray<string | undefined> = []): SecretScrubber {
  const values = new Set<string>();
  for (const secret of knownSecrets) {
    if (!secret || secret.length < MIN_SECRET_LENGTH) continue;
    values.add(secret);
    // The same value as it appears inside a JSON string, and percent-encoded inside a URL.
    values.add(JSON.stringify(secret).slice(1, -1));
    values.add(encodeURIComponent(secret));
  }
  // Longest first, so a secret that contains another is replaced whole.
  const exact = [...values].sort((a, b) => b.length - a.length);
  return (text) => {
    let scrubbed = text;
    // Most lines hold no secret: looked for first, so the line is not split and joined for nothing.
    for (const value of exact) if (scrubbed.includes(value)) scrubbed = scrubbed.split(value).join(REDACTED);
    for (const [shape, replacement] of SECRET_SHAPES) scrubbed = scrubbed.replace(shape, replacement);
    return scrubbed;
  };
}

/** The password of a connection string, if it has one, so it can be scrubbed as a known value. */
export function passwordOf(connectionString: string | undefined): string | undefined {
  if (!connectionString) return undefined;
  try {
    const password = new URL(connectionString).password;
    return password ? decodeURIComponent(password) : undefined;
  } catch {
    return undefined;
  }
}
