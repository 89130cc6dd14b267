import { createRequire } from 'node:module';
import type { IdentitystoreClient } from '@aws-sdk/client-identitystore';
import type { AccountAssignmentOperationStatus, SSOAdminClient } from '@aws-sdk/client-sso-admin';
import {
  ok,
  permanent,
  transient,
  type AccessProvider,
  type ProviderFactory,
  type ProviderGrant,
  type ProviderResult,
  type RevocationCheck,
} from '../provider.ts';
import { classifyAwsError } from './failures.ts';
import { parseAwsIdentityCenterSettings, type AccountAssignmentTarget, type AwsIdentityCenterSettings } from './settings.ts';

/**
 * An account assignment in AWS IAM Identity Center: a user of the identity store holds a permission
 * set in one account. Creating and deleting one are asynchronous in AWS: the call returns a request
 * id, and the outcome is read from its status (IN_PROGRESS, then SUCCEEDED or FAILED), so grant and
 * revoke wait for it. ListAccountAssignments can lag behind a change, so a revoke reads it again
 * until the assignment is gone from it, and fails transiently if it is not.
 *
 * Throttling and 5xx answers are retried by the SDK (standard mode); whatever is left over, and
 * a ConflictException (another change of the same assignment under way), is a transient result
 * the job layer retries later. Sessions already started from the permission set keep working until
 * their credentials expire (README.md).
 */

/** What tests replace: the clients (aws-sdk-client-mock), the wait between polls and how long to wait. */
export interface AwsIdentityCenterDeps {
  ssoAdmin?: SSOAdminClient;
  identityStore?: IdentitystoreClient;
  sleep?: (ms: number) => Promise<void>;
  /** The first wait between polls of a status (it doubles, up to 2 s). */
  pollIntervalMs?: number;
  /** How long grant and revoke wait for an assignment's status before a transient failure. */
  maxWaitMs?: number;
  /** How many times a revoke reads the assignments again while the deleted one is still listed. */
  visibilityChecks?: number;
}

// AWS usually finishes an assignment in a second or two: poll soon, then less often.
const DEFAULT_POLL_INTERVAL_MS = 250;
const MAX_POLL_INTERVAL_MS = 2_000;
const DEFAULT_MAX_WAIT_MS = 60_000;
const DEFAULT_VISIBILITY_CHECKS = 5;
/** SDK attempts per call (the first and its retries of throttling, 5xx and network errors). */
const SDK_MAX_ATTEMPTS = 4;
/** Characters of AWS's FailureReason kept in a failure message. */
const MAX_REASON = 200;

/**
 * The two AWS SDK clients, loaded when the first AWS provider is built rather than with the
 * provider registry: a Latch whose policy has no AWS resource never holds them, about 8 MiB of
 * resident memory. Both are CommonJS (their package.json has no "exports"), so `import` and this
 * `require` give the same module and the same classes.
 */
interface AwsSdk {
  ssoAdmin: typeof import('@aws-sdk/client-sso-admin');
  identityStore: typeof import('@aws-sdk/client-identitystore');
}
let loadedSdk: AwsSdk | undefined;
function awsSdk(): AwsSdk {
  const require = createRequire(import.meta.url);
  loadedSdk ??= { ssoAdmin: require('@aws-sdk/client-sso-admin') as AwsSdk['ssoAdmin'], identityStore: require('@aws-sdk/client-identitystore') as AwsSdk['identityStore'] };
  return loadedSdk;
}

type UserLookup = { ok: true; userId: string } | { ok: false; result: ProviderResult<never>; unknown: boolean };

export class AwsIdentityCenterProvider implements AccessProvider {
  readonly type = 'aws-identity-center';
  readonly #settings: AwsIdentityCenterSettings;
  readonly #sdk = awsSdk();
  readonly #ssoAdmin: SSOAdminClient;
  readonly #identityStore: IdentitystoreClient;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #pollIntervalMs: number;
  readonly #maxWaitMs: number;
  readonly #visibilityChecks: number;

  constructor(settings: AwsIdentityCenterSettings, ssoAdmin: SSOAdminClient, identityStore: IdentitystoreClient, deps: AwsIdentityCenterDeps = {}) {
    this.#settings = settings;
    this.#ssoAdmin = ssoAdmin;
    this.#identityStore = identityStore;
    this.#sleep = deps.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.#pollIntervalMs = deps.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    this.#maxWaitMs = deps.maxWaitMs ?? DEFAULT_MAX_WAIT_MS;
    this.#visibilityChecks = deps.visibilityChecks ?? DEFAULT_VISIBILITY_CHECKS;
  }

  /** Two roles (or resources) giving the same permission set in the same account are one access. */
  accessTarget(role: string): string | undefined {
    const target = this.#settings.roles[role];
    return target ? `aws-sso:${target.accountId}:${target.permissionSetArn}` : undefined;
  }

  async grant(grant: ProviderGrant): Promise<ProviderResult> {
    const target = this.#target(grant.role);
    if (!target) return this.#unknownRole(grant.role);
    const user = await this.#userId(grant.principal, 'grant');
    if (!user.ok) return user.result;
    let status: AccountAssignmentOperationStatus | undefined;
    try {
      const created = await this.#ssoAdmin.send(new this.#sdk.ssoAdmin.CreateAccountAssignmentCommand(this.#assignment(target, user.userId)));
      status = created.AccountAssignmentCreationStatus;
    } catch (error) {
      return { ok: false, failure: classifyAwsError(error, `grant of ${grant.role} to ${grant.principal}`) };
    }
    return this.#awaitStatus(status, 'grant', grant, async (requestId) => {
      const answer = await this.#ssoAdmin.send(
        new this.#sdk.ssoAdmin.DescribeAccountAssignmentCreationStatusCommand({ InstanceArn: this.#settings.instanceArn, AccountAssignmentCreationRequestId: requestId }),
      );
      return answer.AccountAssignmentCreationStatus;
    });
  }

  async revoke(grant: ProviderGrant): Promise<ProviderResult> {
    const target = this.#target(grant.role);
    if (!target) return this.#unknownRole(grant.role);
    const user = await this.#userId(grant.principal, 'revoke');
    // Not "already gone": a user whose userName or email changed since the grant is still assigned
    // under its UserId, and only a person can tell a renamed user from a deleted one.
    if (!user.ok) {
      return user.unknown
        ? permanent(`revoke of ${grant.role} from ${grant.principal}: the identity store no longer finds this user (renamed or deleted?); remove its assignment by hand, or map it in settings.users`)
        : user.result;
    }
    const held = await this.#holds(target, user.userId, 'revoke');
    if (!held.ok) return held;
    if (held.value) {
      let status: AccountAssignmentOperationStatus | undefined;
      try {
        const deleted = await this.#ssoAdmin.send(new this.#sdk.ssoAdmin.DeleteAccountAssignmentCommand(this.#assignment(target, user.userId)));
        status = deleted.AccountAssignmentDeletionStatus;
      } catch (error) {
        return { ok: false, failure: classifyAwsError(error, `revoke of ${grant.role} from ${grant.principal}`) };
      }
      const done = await this.#awaitStatus(status, 'revoke', grant, async (requestId) => {
        const answer = await this.#ssoAdmin.send(
          new this.#sdk.ssoAdmin.DescribeAccountAssignmentDeletionStatusCommand({ InstanceArn: this.#settings.instanceArn, AccountAssignmentDeletionRequestId: requestId }),
        );
        return answer.AccountAssignmentDeletionStatus;
      });
      if (!done.ok) return done;
    }
    return this.#verifyGone(target, user.userId, grant);
  }

  async check(grant: ProviderGrant): Promise<ProviderResult<boolean>> {
    const target = this.#target(grant.role);
    if (!target) return this.#unknownRole(grant.role);
    const user = await this.#userId(grant.principal, 'check');
    if (!user.ok) return user.result;
    return this.#holds(target, user.userId, 'check');
  }

  /**
   * After a revocation: the account assignment is no longer listed for the user. Sessions already
   * started from it keep their credentials until they expire (README.md): that is the effective
   * end this cannot see.
   */
  async verifyRevoked(grant: ProviderGrant): Promise<ProviderResult<RevocationCheck>> {
    const held = await this.check(grant);
    if (!held.ok) return held;
    return ok(held.value ? { gone: false, remains: `${grant.principal} still has the account assignment` } : { gone: true });
  }

  /**
   * The permission set's session duration (DescribePermissionSet's SessionDuration, ISO 8601 such
   * as PT1H): a session started just before the revocation keeps its credentials that long after
   * it, and nothing Latch or Identity Center does can end it sooner.
   */
  async effectiveEndLag(role: string): Promise<ProviderResult<number | null>> {
    const target = this.#target(role);
    if (!target) return this.#unknownRole(role);
    let sessionDuration: string | undefined;
    try {
      const answer = await this.#ssoAdmin.send(new this.#sdk.ssoAdmin.DescribePermissionSetCommand({ InstanceArn: this.#settings.instanceArn, PermissionSetArn: target.permissionSetArn }));
      sessionDuration = answer.PermissionSet?.SessionDuration;
    } catch (error) {
      return { ok: false, failure: classifyAwsError(error, `session duration of ${role}`) };
    }
    // AWS leaves it out for a permission set created without one: its default then applies.
    if (sessionDuration === undefined) return ok(DEFAULT_SESSION_DURATION_SECONDS);
    const seconds = sessionDurationSeconds(sessionDuration);
    return seconds === null ? transient(`session duration of ${role}: Identity Center answered a SessionDuration Latch cannot read (${quote(sessionDuration)})`) : ok(seconds);
  }

  /** The users assigned the role's permission set in its account (assignments to groups are not people: left out). */
  async list(role: string): Promise<ProviderResult<string[]>> {
    const target = this.#target(role);
    if (!target) return this.#unknownRole(role);
    const assigned = await this.#assignedUsers(target, `list of ${role}`);
    if (!assigned.ok) return assigned;
    const byUserId = new Map(Object.entries(this.#settings.users ?? {}).map(([principal, userId]) => [userId, principal]));
    const principals: string[] = [];
    for (const userId of assigned.value) {
      const mapped = byUserId.get(userId);
      if (mapped !== undefined) {
        principals.push(mapped);
        continue;
      }
      try {
        const user = await this.#identityStore.send(new this.#sdk.identityStore.DescribeUserCommand({ IdentityStoreId: this.#settings.identityStoreId, UserId: userId }));
        const email = user.Emails?.find((candidate) => candidate.Primary)?.Value ?? user.Emails?.[0]?.Value;
        const principal = this.#settings.matchUserBy === 'email' ? email : user.UserName;
        // A user without the attribute Latch names people by is still standing access: listed by its id.
        principals.push(principal ?? userId);
      } catch (error) {
        return { ok: false, failure: classifyAwsError(error, `list of ${role}`) };
      }
    }
    return ok(principals);
  }

  async close(): Promise<void> {
    this.#ssoAdmin.destroy();
    this.#identityStore.destroy();
  }

  #target(role: string): AccountAssignmentTarget | undefined {
    return Object.hasOwn(this.#settings.roles, role) ? this.#settings.roles[role] : undefined;
  }

  #unknownRole(role: string): ProviderResult<never> {
    return permanent(`role "${role}" is not in settings.roles: name its accountId and permissionSetArn there`);
  }

  #assignment(target: AccountAssignmentTarget, userId: string) {
    return {
      InstanceArn: this.#settings.instanceArn,
      TargetId: target.accountId,
      TargetType: 'AWS_ACCOUNT' as const,
      PermissionSetArn: target.permissionSetArn,
      PrincipalType: 'USER' as const,
      PrincipalId: userId,
    };
  }

  /** The identity store's UserId for a principal: from settings.users, else by userName or email. */
  async #userId(principal: string, operation: string): Promise<UserLookup> {
    const mapped = this.#settings.users && Object.hasOwn(this.#settings.users, principal) ? this.#settings.users[principal] : undefined;
    if (mapped !== undefined) return { ok: true, userId: mapped };
    const attributePath = this.#settings.matchUserBy === 'email' ? 'emails.value' : 'userName';
    try {
      const answer = await this.#identityStore.send(
        new this.#sdk.identityStore.GetUserIdCommand({
          IdentityStoreId: this.#settings.identityStoreId,
          AlternateIdentifier: { UniqueAttribute: { AttributePath: attributePath, AttributeValue: principal } },
        }),
      );
      if (answer.UserId) return { ok: true, userId: answer.UserId };
    } catch (error) {
      const failure = classifyAwsError(error, `${operation}: looking up ${principal}`);
      if ((error as { name?: unknown }).name !== 'ResourceNotFoundException') return { ok: false, result: { ok: false, failure }, unknown: false };
    }
    return {
      ok: false,
      unknown: true,
      result: permanent(`${operation}: the identity store has no user whose ${attributePath} is "${principal}" (map it in settings.users)`),
    };
  }

  async #assignedUsers(target: AccountAssignmentTarget, operation: string): Promise<ProviderResult<string[]>> {
    const userIds: string[] = [];
    try {
      const pages = this.#sdk.ssoAdmin.paginateListAccountAssignments(
        { client: this.#ssoAdmin },
        { InstanceArn: this.#settings.instanceArn, AccountId: target.accountId, PermissionSetArn: target.permissionSetArn },
      );
      for await (const page of pages) {
        for (const assignment of page.AccountAssignments ?? []) {
          if (assignment.PrincipalType === 'USER' && assignment.PrincipalId) userIds.push(assignment.PrincipalId);
        }
      }
    } catch (error) {
      return { ok: false, failure: classifyAwsError(error, operation) };
    }
    return ok(userIds);
  }

  async #holds(target: AccountAssignmentTarget, userId: string, operation: string): Promise<ProviderResult<boolean>> {
    const assigned = await this.#assignedUsers(target, operation);
    return assigned.ok ? ok(assigned.value.includes(userId)) : assigned;
  }

  /** Reads the assignments until the deleted one is gone from them: a revoke is verified, not assumed. */
  async #verifyGone(target: AccountAssignmentTarget, userId: string, grant: ProviderGrant): Promise<ProviderResult> {
    for (let attempt = 1; attempt <= this.#visibilityChecks; attempt++) {
      const held = await this.#holds(target, userId, 'revoke');
      if (!held.ok) return held;
      if (!held.value) return ok();
      if (attempt < this.#visibilityChecks) await this.#sleep(Math.min(this.#pollIntervalMs * 2 ** (attempt - 1), MAX_POLL_INTERVAL_MS));
    }
    return transient(`revoke of ${grant.role} from ${grant.principal}: Identity Center reported the deletion done, but still lists the assignment; will retry`);
  }

  /** Polls an assignment's creation or deletion status until it is no longer IN_PROGRESS. */
  async #awaitStatus(
    first: AccountAssignmentOperationStatus | undefined,
    operation: 'grant' | 'revoke',
    grant: ProviderGrant,
    describe: (requestId: string) => Promise<AccountAssignmentOperationStatus | undefined>,
  ): Promise<ProviderResult> {
    const what = operation === 'grant' ? `grant of ${grant.role} to ${grant.principal}` : `revoke of ${grant.role} from ${grant.principal}`;
    let status = first;
    let waited = 0;
    let polls = 0;
    while (status?.Status === 'IN_PROGRESS') {
      const requestId = status.RequestId;
      if (!requestId) return transient(`${what}: Identity Center gave no request id to follow; will retry`);
      if (waited >= this.#maxWaitMs) return transient(`${what}: still in progress after ${Math.round(waited / 1000)} s; will retry`);
      const interval = Math.min(this.#pollIntervalMs * 2 ** polls, MAX_POLL_INTERVAL_MS);
      await this.#sleep(interval);
      waited += interval;
      polls++;
      try {
        status = await describe(requestId);
      } catch (error) {
        return { ok: false, failure: classifyAwsError(error, what) };
      }
    }
    if (status?.Status === 'SUCCEEDED') return ok();
    if (status?.Status === 'FAILED') return permanent(`${what}: Identity Center reported it FAILED: ${quote(status.FailureReason ?? 'no reason given')}`);
    return transient(`${what}: Identity Center answered without a status; will retry`);
  }
}

/** A permission set's session duration when it names none: one hour (AWS's documented default). */
const DEFAULT_SESSION_DURATION_SECONDS = 3600;

/**
 * A SessionDuration as DescribePermissionSet answers it: ISO 8601 with a time part only
 * (PT1H, PT12H, PT90M, PT1H30M), as its API reference's pattern allows; null for anything else.
 */
export function sessionDurationSeconds(text: string): number | null {
  const match = /^PT(?:(\d{1,3})H)?(?:(\d{1,4})M)?(?:(\d{1,6})S)?$/.exec(text);
  if (!match || text === 'PT') return null;
  const [, hours = '0', minutes = '0', seconds = '0'] = match;
  return Number(hours) * 3600 + Number(minutes) * 60 + Number(seconds);
}

/** AWS-supplied text made one short line with no control characters. */
function quote(text: string): string {
  const line = text.replace(/[\p{Cc}\p{Cf}\u2028\u2029]+/gu, ' ').replace(/\s+/g, ' ').trim();
  const chars = [...line];
  return chars.length > MAX_REASON ? `${chars.slice(0, MAX_REASON).join('')}…` : line;
}

/**
 * Credentials come from the standard AWS chain; `env` (the environment Latch was given) supplies
 * static keys when it holds them, so the grantor can be a dedicated key pair.
 */
function credentialsFrom(env: Record<string, string | undefined>) {
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) return undefined;
  return { accessKeyId, secretAccessKey, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) };
}

export function buildAwsIdentityCenterProvider(
  settings: Record<string, unknown>,
  env: Record<string, string | undefined>,
  deps: AwsIdentityCenterDeps = {},
): ReturnType<ProviderFactory> {
  const parsed = parseAwsIdentityCenterSettings(settings);
  if (!parsed.ok) return parsed;
  const config = {
    region: parsed.settings.region,
    maxAttempts: SDK_MAX_ATTEMPTS,
    retryMode: 'standard',
    ...(parsed.settings.endpoint ? { endpoint: parsed.settings.endpoint } : {}),
    ...(credentialsFrom(env) ? { credentials: credentialsFrom(env) } : {}),
  };
  const ssoAdmin = deps.ssoAdmin ?? new (awsSdk().ssoAdmin.SSOAdminClient)(config);
  const identityStore = deps.identityStore ?? new (awsSdk().identityStore.IdentitystoreClient)(config);
  return { ok: true, provider: new AwsIdentityCenterProvider(parsed.settings, ssoAdmin, identityStore, deps) };
}

export const createAwsIdentityCenterProvider: ProviderFactory = (settings, env) => buildAwsIdentityCenterProvider(settings, env);
