import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A protocol-level fake of the two AWS services the aws-identity-center provider speaks, on
 * loopback, written from AWS's API references (SSO Admin: target prefix SWBExternalService;
 * Identity Store: AWSIdentityStore): POST of JSON 1.1 (`content-type: application/x-amz-json-1.1`)
 * with the operation in `X-Amz-Target`, a SigV4 `Authorization` header whose credential scope names
 * the service (`sso`, `identitystore`), errors as HTTP 4xx/5xx with `__type` in the body and
 * `x-amzn-ErrorType`. The signature itself is not verified (it needs the secret key AWS holds).
 *
 * Creating and deleting an account assignment are asynchronous as in AWS: the call answers
 * IN_PROGRESS with a request id, and the change happens when a later Describe…Status answers
 * SUCCEEDED (after `progressPolls` polls) or FAILED. Tests can make it throttle, answer
 * ConflictException, report a FAILED status, and lag: ListAccountAssignments then shows a change only after `listLag` more listings.
 * It can also lie: a deletion for a principal in `keptPrincipals` reports SUCCEEDED but leaves the
 * assignment in place (a revocation that says done while access remains). DescribePermissionSet
 * answers each permission set's SessionDuration (ISO 8601, PT1H unless given).
 */

interface FakeUser {
  userId: string;
  userName: string;
  email: string;
}

interface VisibilityChange {
  key: string;
  present: boolean;
  listingsLeft: number;
}

interface Operation {
  requestId: string;
  kind: 'create' | 'delete';
  key: string;
  pollsLeft: number;
  fails?: string;
  status: 'IN_PROGRESS' | 'SUCCEEDED' | 'FAILED';
  body: Record<string, unknown>;
}

class AwsError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

const SIGV4 = /^AWS4-HMAC-SHA256 Credential=[A-Z0-9]+\/\d{8}\/[a-z0-9-]+\/([a-z-]+)\/aws4_request, SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}$/;

export class FakeAwsIdentityCenter {
  readonly instanceArn = 'arn:aws:sso:::instance/ssoins-1111222233334444';
  readonly identityStoreId = 'd-1234567890';
  /** Every request's X-Amz-Target, in order. */
  readonly calls: string[] = [];
  /** Describe…Status polls before an operation leaves IN_PROGRESS. */
  progressPolls = 1;
  /** Listings after a change before ListAccountAssignments shows it. */
  listLag = 0;
  /** Assignments per ListAccountAssignments page (small, so the provider must follow NextToken). */
  pageSize = 2;
  readonly #users = new Map<string, FakeUser>();
  readonly #accounts = new Set<string>();
  /** Permission set ARN → its SessionDuration (ISO 8601), as DescribePermissionSet answers it. */
  readonly #permissionSets = new Map<string, string>();
  /** Principal ids whose deletions report SUCCEEDED but keep the assignment. */
  readonly keptPrincipals = new Set<string>();
  /** The truth: `${account}|${permissionSet}|${principalType}|${principalId}`. */
  readonly #assignments = new Set<string>();
  /** What ListAccountAssignments shows, behind the truth by `listLag` listings. */
  readonly #listed = new Set<string>();
  #pendingVisibility: VisibilityChange[] = [];
  readonly #operations = new Map<string, Operation>();
  #throttleNext = 0;
  #failNext: string | undefined;
  #conflictNext = false;
  readonly #server: Server;
  #url = '';

  private constructor() {
    this.#server = createServer((request, response) => void this.#handle(request, response));
  }

  static async start(): Promise<FakeAwsIdentityCenter> {
    const fake = new FakeAwsIdentityCenter();
    await new Promise<void>((resolve) => fake.#server.listen(0, '127.0.0.1', resolve));
    fake.#url = `http://127.0.0.1:${(fake.#server.address() as AddressInfo).port}`;
    return fake;
  }

  get url(): string {
    return this.#url;
  }

  addAccount(accountId: string): void {
    this.#accounts.add(accountId);
  }

  /** `sessionDuration` is the permission set's SessionDuration (ISO 8601; AWS's default is PT1H). */
  addPermissionSet(name: string, sessionDuration = 'PT1H'): string {
    const arn = `arn:aws:sso:::permissionSet/ssoins-1111222233334444/ps-${name.padEnd(16, '0').slice(0, 16)}`;
    this.#permissionSets.set(arn, sessionDuration);
    return arn;
  }

  addUser(userName: string, email = userName): string {
    const userId = randomUUID();
    this.#users.set(userId, { userId, userName, email });
    return userId;
  }

  /** Asks the fake's truth, not the lagging listing: does the user hold the permission set in the account? */
  hasAssignment(accountId: string, permissionSetArn: string, userId: string): boolean {
    return this.#assignments.has(assignmentKey(accountId, permissionSetArn, 'USER', userId));
  }

  /** The next `count` requests answer ThrottlingException. */
  throttle(count: number): void {
    this.#throttleNext = count;
  }

  /** The next create or delete ends FAILED with this reason. */
  failNextOperation(reason: string): void {
    this.#failNext = reason;
  }

  /** The next create or delete answers ConflictException, as AWS does while another change of the assignment runs. */
  conflictNextOperation(): void {
    this.#conflictNext = true;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    try {
      const target = String(request.headers['x-amz-target'] ?? '');
      this.calls.push(target);
      const [prefix, operation] = target.split('.');
      if (request.method !== 'POST') throw new AwsError(405, 'UnknownOperationException', 'POST only');
      if (request.headers['content-type'] !== 'application/x-amz-json-1.1') throw new AwsError(400, 'SerializationException', 'expected application/x-amz-json-1.1');
      const signed = SIGV4.exec(String(request.headers.authorization ?? ''));
      if (!signed || !request.headers['x-amz-date']) throw new AwsError(403, 'MissingAuthenticationTokenException', 'Missing Authentication Token');
      const service = prefix === 'SWBExternalService' ? 'sso' : prefix === 'AWSIdentityStore' ? 'identitystore' : undefined;
      if (!service || !operation) throw new AwsError(400, 'UnknownOperationException', `unknown target ${target}`);
      if (signed[1] !== service) throw new AwsError(403, 'InvalidSignatureException', `credential scope names ${signed[1]}, not ${service}`);
      if (this.#throttleNext > 0) {
        this.#throttleNext--;
        throw new AwsError(400, 'ThrottlingException', 'Rate exceeded');
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
      const answer = service === 'sso' ? this.#ssoAdmin(operation, body) : this.#identityStore(operation, body);
      response.writeHead(200, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': randomUUID() });
      response.end(JSON.stringify(answer));
    } catch (error) {
      const failure = error instanceof AwsError ? error : new AwsError(500, 'InternalServerException', 'internal error');
      response.writeHead(failure.status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': failure.type, 'x-amzn-requestid': randomUUID() });
      response.end(JSON.stringify({ __type: failure.type, message: failure.message }));
    }
  }

  #identityStore(operation: string, body: Record<string, unknown>): Record<string, unknown> {
    if (body.IdentityStoreId !== this.identityStoreId) throw new AwsError(400, 'ResourceNotFoundException', 'identity store not found');
    if (operation === 'GetUserId') {
      const unique = (body.AlternateIdentifier as { UniqueAttribute?: { AttributePath?: string; AttributeValue?: unknown } } | undefined)?.UniqueAttribute;
      if (!unique || (unique.AttributePath !== 'userName' && unique.AttributePath !== 'emails.value')) {
        throw new AwsError(400, 'ValidationException', 'the only valid paths are userName and emails.value');
      }
      const user = [...this.#users.values()].find((candidate) =>
        unique.AttributePath === 'userName' ? candidate.userName === unique.AttributeValue : candidate.email === unique.AttributeValue,
      );
      if (!user) throw new AwsError(400, 'ResourceNotFoundException', 'USER not found');
      return { IdentityStoreId: this.identityStoreId, UserId: user.userId };
    }
    if (operation === 'DescribeUser') {
      const user = this.#users.get(String(body.UserId));
      if (!user) throw new AwsError(400, 'ResourceNotFoundException', 'USER not found');
      return { IdentityStoreId: this.identityStoreId, UserId: user.userId, UserName: user.userName, Emails: [{ Value: user.email, Primary: true, Type: 'work' }] };
    }
    throw new AwsError(400, 'UnknownOperationException', operation);
  }

  #ssoAdmin(operation: string, body: Record<string, unknown>): Record<string, unknown> {
    if (body.InstanceArn !== this.instanceArn) throw new AwsError(400, 'ResourceNotFoundException', 'instance not found');
    switch (operation) {
      case 'CreateAccountAssignment':
      case 'DeleteAccountAssignment': {
        const key = this.#validAssignment(body);
        if (this.#conflictNext) {
          this.#conflictNext = false;
          throw new AwsError(409, 'ConflictException', 'an operation on this assignment is in progress');
        }
        const kind = operation === 'CreateAccountAssignment' ? 'create' : 'delete';
        const requestId = randomUUID();
        const op: Operation = { requestId, kind, key, pollsLeft: this.progressPolls, status: 'IN_PROGRESS', body };
        if (this.#failNext !== undefined) op.fails = this.#failNext;
        this.#failNext = undefined;
        this.#operations.set(requestId, op);
        if (op.pollsLeft === 0) this.#finish(op);
        return { [kind === 'create' ? 'AccountAssignmentCreationStatus' : 'AccountAssignmentDeletionStatus']: this.#status(op) };
      }
      case 'DescribeAccountAssignmentCreationStatus':
      case 'DescribeAccountAssignmentDeletionStatus': {
        const creation = operation === 'DescribeAccountAssignmentCreationStatus';
        const op = this.#operations.get(String(creation ? body.AccountAssignmentCreationRequestId : body.AccountAssignmentDeletionRequestId));
        if (!op || (op.kind === 'create') !== creation) throw new AwsError(400, 'ResourceNotFoundException', 'request not found');
        if (op.status === 'IN_PROGRESS' && --op.pollsLeft <= 0) this.#finish(op);
        return { [creation ? 'AccountAssignmentCreationStatus' : 'AccountAssignmentDeletionStatus']: this.#status(op) };
      }
      case 'DescribePermissionSet': {
        const arn = String(body.PermissionSetArn);
        const sessionDuration = this.#permissionSets.get(arn);
        if (sessionDuration === undefined) throw new AwsError(400, 'ResourceNotFoundException', 'permission set not found');
        return { PermissionSet: { Name: arn.split('/').at(-1), PermissionSetArn: arn, CreatedDate: Date.now() / 1000, SessionDuration: sessionDuration } };
      }
      case 'ListAccountAssignments': {
        if (!this.#accounts.has(String(body.AccountId)) || !this.#permissionSets.has(String(body.PermissionSetArn))) {
          throw new AwsError(400, 'ResourceNotFoundException', 'account or permission set not found');
        }
        this.#advanceVisibility();
        const prefix = `${String(body.AccountId)}|${String(body.PermissionSetArn)}|`;
        const all = [...this.#listed].filter((key) => key.startsWith(prefix));
        const start = typeof body.NextToken === 'string' ? Number(body.NextToken) : 0;
        const page = all.slice(start, start + this.pageSize).map((key) => {
          const [AccountId, PermissionSetArn, PrincipalType, PrincipalId] = key.split('|');
          return { AccountId, PermissionSetArn, PrincipalType, PrincipalId };
        });
        const next = start + this.pageSize < all.length ? { NextToken: String(start + this.pageSize) } : {};
        return { AccountAssignments: page, ...next };
      }
      default:
        throw new AwsError(400, 'UnknownOperationException', operation);
    }
  }

  #validAssignment(body: Record<string, unknown>): string {
    if (body.TargetType !== 'AWS_ACCOUNT' || (body.PrincipalType !== 'USER' && body.PrincipalType !== 'GROUP')) {
      throw new AwsError(400, 'ValidationException', 'TargetType must be AWS_ACCOUNT and PrincipalType USER or GROUP');
    }
    if (!this.#accounts.has(String(body.TargetId))) throw new AwsError(400, 'ResourceNotFoundException', 'account not found');
    if (!this.#permissionSets.has(String(body.PermissionSetArn))) throw new AwsError(400, 'ResourceNotFoundException', 'permission set not found');
    if (body.PrincipalType === 'USER' && !this.#users.has(String(body.PrincipalId))) throw new AwsError(400, 'ResourceNotFoundException', 'principal not found');
    return assignmentKey(String(body.TargetId), String(body.PermissionSetArn), String(body.PrincipalType), String(body.PrincipalId));
  }

  #finish(op: Operation): void {
    if (op.fails !== undefined) {
      op.status = 'FAILED';
      return;
    }
    op.status = 'SUCCEEDED';
    const present = op.kind === 'create';
    // The lie a test asked for: the deletion says done, the assignment stays.
    if (!present && this.keptPrincipals.has(String(op.body.PrincipalId))) return;
    if (present) this.#assignments.add(op.key);
    else this.#assignments.delete(op.key);
    this.#pendingVisibility.push({ key: op.key, present, listingsLeft: this.listLag });
    if (this.listLag === 0) this.#advanceVisibility();
  }

  #advanceVisibility(): void {
    const waiting: VisibilityChange[] = [];
    for (const change of this.#pendingVisibility) {
      if (change.listingsLeft > 0) {
        change.listingsLeft--;
        waiting.push(change);
      } else if (change.present) this.#listed.add(change.key);
      else this.#listed.delete(change.key);
    }
    this.#pendingVisibility = waiting;
  }

  #status(op: Operation): Record<string, unknown> {
    return {
      Status: op.status,
      RequestId: op.requestId,
      ...(op.status === 'FAILED' ? { FailureReason: op.fails } : {}),
      TargetId: op.body.TargetId,
      TargetType: op.body.TargetType,
      PermissionSetArn: op.body.PermissionSetArn,
      PrincipalType: op.body.PrincipalType,
      PrincipalId: op.body.PrincipalId,
      ...(op.kind === 'create' ? { CreatedDate: Date.now() / 1000 } : {}),
    };
  }
}

function assignmentKey(accountId: string, permissionSetArn: string, principalType: string, principalId: string): string {
  return `${accountId}|${permissionSetArn}|${principalType}|${principalId}`;
}
