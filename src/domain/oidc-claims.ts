import type { MachinePolicy, OidcAuthentication } from './machine.ts';

/**
 * Which machine of the policy an OIDC token speaks for, from its verified issuer, audience and
 * claims. Signature, expiry and replay are checked before this (src/api/oidc-verifier.ts); here
 * only the policy's rules, so they can be tested without keys or servers.
 */

/** The issuer of GitHub Actions' OIDC tokens, the default of `oidc.issuer`. */
export const GITHUB_ACTIONS_ISSUER = 'https://token.actions.githubusercontent.com';

/** What a verified OIDC token says about the job that holds it. */
export interface VerifiedWorkload {
  issuer: string;
  /** `aud`, always as a list (a JWT may carry one audience or several). */
  audiences: readonly string[];
  claims: Readonly<Record<string, unknown>>;
}

/**
 * Whether a claim's value fits one pattern: exact text, where `*` stands for any run of
 * characters other than `/` and `**` for any run at all. So `refs/heads/release/*` fits
 * `refs/heads/release/1.2` but not `refs/heads/release/1.2/hotfix`, and `octo-org/*` never
 * reaches past the owner. Only text claims match: a number or a list never does.
 */
export function claimMatches(pattern: string, value: unknown): boolean {
  if (typeof value !== 'string') return false;
  if (!pattern.includes('*')) return pattern === value;
  const source = pattern
    .split('**')
    .map((part) => part.split('*').map(escapeRegExp).join('[^/]*'))
    .join('.*');
  return new RegExp(`^${source}$`, 'su').test(value);
}

function escapeRegExp(text: string): string {
  return text.replace(/[\\^$.|?*+()[\]{}]/g, '\\$&');
}

/** Whether a machine's OIDC rules accept the workload: same issuer, its audience among the token's, every claim fitting one of its patterns. */
export function workloadMatches(authentication: OidcAuthentication, workload: VerifiedWorkload): boolean {
  if (authentication.issuer !== workload.issuer) return false;
  if (!workload.audiences.includes(authentication.audience)) return false;
  return Object.entries(authentication.claims).every(([claim, patterns]) => Object.hasOwn(workload.claims, claim) && patterns.some((pattern) => claimMatches(pattern, workload.claims[claim])));
}

/** The policy's machines that authenticate with OIDC and accept the workload: exactly one is wanted. */
export function machinesForWorkload(machines: readonly MachinePolicy[], workload: VerifiedWorkload): MachinePolicy[] {
  return machines.filter((machine) => machine.authentication.type === 'oidc' && workloadMatches(machine.authentication, workload));
}

/** The issuers the policy trusts: a token from any other is refused before anything is fetched. */
export function trustedIssuers(machines: readonly MachinePolicy[]): Set<string> {
  return new Set(machines.flatMap((machine) => (machine.authentication.type === 'oidc' ? [machine.authentication.issuer] : [])));
}

/**
 * The claims that tie a GitHub Actions token to one owner's repositories. Anyone on GitHub can
 * make a job ask for a token with any audience, so a machine trusting GitHub's issuer must match
 * one of these without a wildcard in the owner's part, or every repository on GitHub would fit.
 */
const GITHUB_PINNING_CLAIMS: Record<string, (pattern: string) => boolean> = {
  repository: (pattern) => /^[^*/]+\/./.test(pattern),
  repository_owner: (pattern) => !pattern.includes('*'),
  repository_id: (pattern) => !pattern.includes('*'),
  repository_owner_id: (pattern) => !pattern.includes('*'),
  sub: (pattern) => /^repo:[^*/:]+\/./.test(pattern),
};

/** Why a machine's OIDC rules would let strangers in, or null when they do not. */
export function unpinnedGithubProblem(authentication: OidcAuthentication): string | null {
  if (authentication.issuer !== GITHUB_ACTIONS_ISSUER) return null;
  const pinned = Object.entries(GITHUB_PINNING_CLAIMS).some(([claim, pins]) => {
    const patterns = authentication.claims[claim];
    return patterns !== undefined && patterns.length > 0 && patterns.every(pins);
  });
  if (pinned) return null;
  return 'must match repository (such as octo-org/deploy), repository_owner, repository_id, repository_owner_id or sub, with no * in the owner: any GitHub repository can ask for a token with this audience';
}

/**
 * Why an issuer's (or its keys') URL cannot be trusted, or null. HTTPS only, without credentials,
 * query or fragment; plain HTTP only on loopback, where an issuer under test runs.
 */
export function issuerUrlProblem(text: string): string | null {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'must be a URL such as https://token.actions.githubusercontent.com';
  }
  if (url.username || url.password || url.search || url.hash) return 'must be a plain URL, without user, password, query or fragment';
  if (url.protocol === 'https:') return null;
  const loopback = url.hostname === 'localhost' || url.hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(url.hostname);
  if (url.protocol === 'http:' && loopback) return null;
  return 'must be an https:// URL (plain http only on loopback, for tests)';
}
