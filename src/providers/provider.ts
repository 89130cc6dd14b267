/**
 * A provider makes access real in a target system and takes it away again. Each operation is
 * idempotent — granting access that exists, or revoking access that is gone, succeeds — because
 * jobs are retried, and a retry must never fail for having already worked.
 *
 * Expected failures are results, not exceptions, and say whether retrying can help: `transient`
 * (timeouts, 5xx, rate limits, a target that is down) is retried with backoff; `permanent` (the
 * role no longer exists, credentials refused, the user is unknown to the target) stops the fast
 * retries at once. Messages are for the operator's log and never contain a secret.
 *
 * Deliberately left out: deciding whether access *should* end. When two grants overlap, the job
 * layer revokes only when no other active grant covers the same principal and role (or the same
 * `accessTarget`, when the provider names one).
 */

import type { z } from 'zod';
import type { IdentityPolicy } from '../domain/policy.ts';
import type { RequestScope } from '../domain/request-scope.ts';
import type { ProviderServices } from './target-lock.ts';

export interface ProviderGrant {
  /** Latch's Grant id: stable across retries, usable as an idempotency key. */
  grantId: string;
  requestId: string;
  resourceId: string;
  /** The role id from the policy (a provider may map it to its own name in its settings). */
  role: string;
  /** Who, in the target's own terms: a database user, a Slack user id, a webhook's user field. */
  principal: string;
  /** When Latch will revoke; informational for the target (Latch revokes, not the target). */
  expiresAt: Date;
  /** Single-use access (a role's `uses: 1`): the login made for the request serves one session. */
  singleUse?: boolean;
  /**
   * What of the role was asked for, when its policy declares scope parameters (one customer's rows,
   * some tables): the provider grants only that. Absent: the whole role. A provider must be able to
   * revoke without it (a revocation finds what the grant made by `requestId`).
   */
  scope?: RequestScope;
}

/**
 * Where single-use access stands on the target: no session yet; its one session is open (and no
 * other can start); or that session has ended, so the access is spent.
 */
export type SingleUseState = 'unused' | 'in_use' | 'used';

/**
 * A login made for one request (a provider's own, e.g. `credentials: dynamic` on postgres), handed
 * to its requester once. The password is a secret: it goes to the requester's answer and nowhere
 * else (no log line, no audit event, no Slack message, no table).
 */
export interface IssuedCredentials {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
  /** When the target itself stops accepting the login, Latch or no Latch. */
  validUntil: Date | null;
}

export type ProviderFailureKind = 'transient' | 'permanent';

export interface ProviderFailure {
  kind: ProviderFailureKind;
  /**
   * One line for the operator: what failed and, where known, what to fix. No secrets. It goes to
   * the log and the audit event only, never to Slack (it may quote the target's own words): people
   * read a fixed notice per kind instead (src/services/failure-notice.ts).
   */
  message: string;
}

/**
 * What the target showed when a provider looked again after a revocation: the access gone, or
 * what remains of it (one line for the operator, e.g. "still a member of role x"). No secrets.
 */
export type RevocationCheck = { gone: true } | { gone: false; remains: string };

/**
 * Something a scoped grant made that is on the target now (listScopedAccess): the standing-access
 * scan reports it when no active grant of `requestId` covers it. No scope value: one can be
 * personal data (a customer id).
 */
export interface ScopedAccessFound {
  requestId: string;
  /** Who holds it, in the target's terms; null when nobody does (a request's role left without members). */
  login: string | null;
  /** One line for the operator: what is there, e.g. "role latch_s_… (privileges on public.orders)". */
  what: string;
}

export type ProviderResult<T = void> = { ok: true; value: T } | { ok: false; failure: ProviderFailure };

export interface AccessProvider {
  /** The provider type as named in the policy file, e.g. `postgres`. */
  readonly type: string;
  grant(grant: ProviderGrant): Promise<ProviderResult>;
  revoke(grant: ProviderGrant): Promise<ProviderResult>;
  /** Is the access there now? */
  check(grant: ProviderGrant): Promise<ProviderResult<boolean>>;
  /**
   * Looks at the target after a revocation reported success, independently of it: the membership
   * and, where the provider ends sessions, the sessions that began before `since` (when Latch
   * started the revocation). Latch records a revocation as done only when this says `gone`; access
   * that remains is a failed revocation (retried, alerted when overdue). Providers whose target
   * cannot be asked leave it out (capabilities.verifiesRevocation) and their revocations are
   * recorded as reported, unverified; so are those of a resource whose target cannot be asked
   * (a webhook receiver not said to answer `check`), for which it answers null.
   */
  verifyRevoked?(grant: ProviderGrant, since: Date): Promise<ProviderResult<RevocationCheck | null>>;
  /**
   * How long, in seconds, sessions started from `role`'s access may keep working after Latch
   * revokes it, where the target lets them outlive the revocation (credentials issued for a fixed
   * time that nothing can cut short). Latch shows people this effective end: the access's end plus
   * the lag. Null when the target ends everything at revocation. Asked once a grant succeeded.
   */
  effectiveEndLag?(role: string): Promise<ProviderResult<number | null>>;
  /** Who holds `role` now, where the target can say: finds standing access Latch did not grant. */
  list?(role: string): Promise<ProviderResult<string[]>>;
  /**
   * Whether `principal` may be given `role` at all, where the target can tell a privileged account
   * (the grantor itself, an administrator, a role Latch hands out). Asked when a request is made, so
   * the requester is told at once; `grant` and `revoke` check again, right before they act. A
   * permanent failure is a refusal, its message saying why ("it is a superuser"); a transient one
   * means the target could not say just now.
   */
  checkPrincipal?(principal: string, role: string): Promise<ProviderResult>;
  /**
   * What `role` gives in the target, named so that two resources (or roles) whose grants give the
   * same thing have the same name: a Slack user group's id. Latch treats grants of one principal
   * with the same name as one access: one does not end it while another still covers it.
   * Without it, a resource's role is its own access.
   */
  accessTarget?(role: string): string | undefined;
  /**
   * For access handed out as a login of the provider's own (ProviderDefinition.loginFor): gives the
   * login a new password and returns it. Latch calls it once per grant and keeps no copy; a later
   * call would make the earlier password useless. A login that is gone is a permanent failure.
   */
  issueCredentials?(grant: ProviderGrant): Promise<ProviderResult<IssuedCredentials>>;
  /**
   * For single-use access (ProviderGrant.singleUse): looks at the login's sessions. The first time
   * it sees one, it stops any further login at once (the session itself goes on); once that session
   * is gone, the access is `used` and Latch ends it.
   */
  watchSingleUse?(grant: ProviderGrant): Promise<ProviderResult<SingleUseState>>;
  /**
   * Whether the target can grant `scope` for `role` as asked (the tables exist, the scoped columns
   * are in place): asked when a request is made, so a bad value is refused in the form. A permanent
   * failure is a refusal whose message a person can read ("table public.x does not exist");
   * a transient one means the target could not say just now.
   */
  checkScope?(role: string, scope: RequestScope): Promise<ProviderResult>;
  /**
   * Everything scoped grants made that is on the target now (a request's own role, its table
   * grants, its scope rows), each with its request id: the standing-access scan reports what no
   * active grant covers (a revocation that silently failed, or access made by hand in Latch's
   * name). Providers whose scoped grants leave nothing of their own out (capabilities.listsScopedAccess).
   */
  listScopedAccess?(): Promise<ProviderResult<ScopedAccessFound[]>>;
  /** Releases connections; called at shutdown. */
  close?(): Promise<void>;
}

/**
 * What the policy says about accounts a provider must never change, beyond its own settings:
 * gathered by the registry from every resource served by the same provider type.
 */
export interface ProviderGuard {
  /** The `permanentHolders` of every resource of this provider type. */
  permanentHolders: string[];
  /** The settings and role ids of every resource of this provider type, this one's included: what they grant is nobody's account. */
  peers: Array<{ settings: Record<string, unknown>; roles: string[] }>;
}

export interface ProviderBuildOptions {
  guard?: ProviderGuard;
}

/**
 * Builds a provider from its validated policy settings. `env` is where secrets come from: settings
 * name an environment variable, never hold the secret. A bad setting or a missing variable is a
 * list of one-line problems (e.g. `settings.connectionStringEnv: PROD_DB_URL is not set`).
 * `services` is what Latch lends every provider (the cross-process lock of target-lock.ts); the
 * registry always passes it, and a provider that needs it declares it required.
 */
export type ProviderFactory = (
  settings: Record<string, unknown>,
  env: Record<string, string | undefined>,
  services?: ProviderServices & ProviderBuildOptions,
) => { ok: true; provider: AccessProvider } | { ok: false; problems: string[] };

/**
 * The optional parts of AccessProvider a provider type offers, said once in its definition, so
 * that what a type can do is read there (and the contract suite holds its providers to it).
 */
export interface ProviderCapabilities {
  /** `list(role)`: who holds a role now, standing access Latch did not grant included. */
  listsHolders: boolean;
  /** `checkPrincipal`: refuses privileged accounts when a request is made. */
  checksPrincipal: boolean;
  /** `accessTarget`: names what a role gives, so overlapping grants of it are one access. */
  namesAccessTarget: boolean;
  /** Ends the principal's open sessions in the target when access is revoked. */
  endsSessions: boolean;
  /** Reads the policy's ProviderGuard when built (a reload that changes it replaces the provider). */
  readsGuard: boolean;
  /** `issueCredentials`: can create a login of its own per request and hand its password out. */
  issuesCredentials: boolean;
  /**
   * `verifyRevoked`: checks the target after each revocation, so Latch records access verified
   * gone (the webhook's only where its settings say the receiver answers `check`).
   */
  verifiesRevocation: boolean;
  /** `effectiveEndLag`: sessions may outlive a revocation by a known time, which Slack shows. */
  reportsEffectiveEndLag: boolean;
  /** `listScopedAccess`: lists what scoped grants made on the target, for the standing-access scan. */
  listsScopedAccess: boolean;
}

/**
 * Everything Latch knows about one provider type, owned by the provider's folder
 * (`src/providers/<type>/definition.ts`) and listed in registry.ts. The policy file takes the
 * types and their settings schemas from here; nothing outside the folder names a provider.
 */
export interface ProviderDefinition {
  /** The type as the policy file names it (`provider.type`), and the folder's name. */
  readonly type: string;
  /**
   * The resource's `settings` block. The policy file checks it (so `latch policy check` names a
   * bad setting and its line), and the factory parses it again: a grant's recorded settings reach
   * the factory without passing the policy file. Its messages never quote a value.
   */
  readonly settings: z.ZodObject;
  /** How a Slack user becomes this target's principal when the resource's `identity` does not say. */
  readonly identityDefaults: Pick<IdentityPolicy, 'from' | 'template'>;
  readonly capabilities: ProviderCapabilities;
  /**
   * When `settings` make the provider create a login of its own for each request: the name of the
   * login for `requestId`, which becomes the request's principal (no identity is resolved for the
   * requester, who receives the login's credentials instead). Undefined otherwise.
   */
  readonly loginFor?: (settings: Record<string, unknown>, role: string, requestId: string) => string | undefined;
  /** Whether `settings` make the provider create a login per request (loginFor then names it): the policy then needs no identity rules. */
  readonly createsLogins?: (settings: Record<string, unknown>) => boolean;
  /** How people are told which target failed: "<targetName> refused the grant". */
  readonly targetName: string;
  readonly create: ProviderFactory;
}

export const ok = <T = void>(value?: T): ProviderResult<T> => ({ ok: true, value: value as T });
export const transient = (message: string): ProviderResult<never> => ({ ok: false, failure: { kind: 'transient', message } });
export const permanent = (message: string): ProviderResult<never> => ({ ok: false, failure: { kind: 'permanent', message } });
