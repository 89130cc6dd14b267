import { z } from 'zod';
import { MAX_REASON_LENGTH, MAX_TICKET_LENGTH } from '../domain/access-request-rules.ts';
import { MAX_BUNDLE_ITEMS } from '../domain/request-bundle.ts';
import { MAX_SCOPE_VALUE_LENGTH, MAX_SCOPE_VALUES } from '../domain/scope-rules.ts';

/**
 * The API's bodies, in and out, as zod schemas: the handlers parse with them and the OpenAPI
 * document (openapi.ts) is generated from them, so the two cannot drift apart.
 */

/**
 * A scope as a body gives it: bounded here against oversized bodies, checked against the role's
 * parameters by the use case, whose messages say what is wrong with each value.
 */
export const requestScope = z
  .record(z.string().min(1).max(64), z.array(z.string().max(2 * MAX_SCOPE_VALUE_LENGTH)).max(MAX_SCOPE_VALUES))
  .refine((scope) => Object.keys(scope).length <= 20, { message: 'at most 20 scope parameters' })
  .describe('For a role whose policy declares scope parameters: the values of each, e.g. { "customer": ["4711"] } or { "tables": ["public.orders"] }. Required for such a role, refused for any other');

export const requestItem = z.strictObject({
  resource: z.string().min(1).max(64).describe('A resource id from the policy, e.g. prod-db'),
  role: z.string().min(1).max(64).describe("One of the resource's roles, e.g. read"),
  scope: requestScope.optional(),
});

export const createRequestBody = z
  .strictObject({
    resource: z.string().min(1).max(64).optional().describe('A resource id from the policy, e.g. prod-db (or give items)'),
    role: z.string().min(1).max(64).optional().describe('One of the resource\'s roles, e.g. read (or give items)'),
    items: z
      .array(requestItem)
      .min(1)
      .max(MAX_BUNDLE_ITEMS)
      .optional()
      .describe(`Several resource and role pairs at once (at most ${MAX_BUNDLE_ITEMS}), instead of resource and role: each becomes a request of its own, decided, granted and revoked on its own; one the policy refuses refuses them all, and nothing is requested`),
    duration: z.string().min(1).max(32).describe('How long the access should last once granted, e.g. 15m, 2h'),
    reason: z.string().min(1).max(MAX_REASON_LENGTH).describe('Why: shown to the approvers in Slack'),
    ticket: z.string().min(1).max(MAX_TICKET_LENGTH).optional().describe('A ticket reference, when the resource asks for one'),
    scope: requestScope.optional(),
  })
  .superRefine((body, ctx) => {
    const single = body.resource !== undefined || body.role !== undefined;
    if (body.items && body.scope) ctx.addIssue({ code: 'custom', path: ['scope'], message: 'with items, give each item its own scope' });
    if (body.items && single) ctx.addIssue({ code: 'custom', path: ['items'], message: 'give either resource and role, or items, not both' });
    if (!body.items && body.resource === undefined) ctx.addIssue({ code: 'custom', path: ['resource'], message: 'give resource and role, or items' });
    if (!body.items && body.role === undefined) ctx.addIssue({ code: 'custom', path: ['role'], message: 'give resource and role, or items' });
  });

/** `GET /requests/{id}?wait=N`: how long to hold the answer until the request settles. */
export const waitSeconds = z
  .int()
  .min(0)
  .max(60)
  .describe('Seconds to wait, at most 60, for the request to settle (granted, denied, expired, cancelled, failed) before answering; the answer comes as soon as it does, or with the request still pending when the time is up. Ask again to wait longer.');

/** A JWT is three base64url parts; GitHub's are about 1 KB, 8 KB is far beyond any real one. */
export const oidcTokenBody = z.object({
  token: z.string().min(1).max(8192).describe("The workload's OIDC token (a JWT), e.g. from GitHub Actions' ACTIONS_ID_TOKEN_REQUEST_URL"),
});

export const exchangedToken = z.object({
  access_token: z.string().describe('A Latch API token (latch_…): send it as Authorization: Bearer'),
  token_type: z.literal('Bearer'),
  expires_in: z.int().describe('Seconds it is valid for: at most an hour, and never beyond the OIDC token'),
  expires_at: z.iso.datetime(),
  machine: z.string().describe('The machine of the policy whose rules the OIDC token met'),
});

/** `POST /logins`: a terminal starts a person's `latch login`. */
export const startLoginBody = z.strictObject({
  client: z.string().max(200).optional().describe("The terminal's name (its host name), shown to the person when they confirm"),
});

export const startedLogin = z.object({
  deviceCode: z.string().describe('The secret to poll POST /logins/token with; keep it to this terminal'),
  userCode: z.string().describe('What the person types in Slack, e.g. BCDF-GHJK'),
  slackCommand: z.string().describe('The command to type in Slack: /request-access login <userCode>'),
  expiresAt: z.iso.datetime(),
  expiresIn: z.int().describe('Seconds left to confirm'),
  interval: z.int().describe('Seconds to wait between polls'),
});

/** `POST /logins/token`: the terminal's poll, with the device code it was given. */
export const collectLoginBody = z.strictObject({
  deviceCode: z.string().min(1).max(200),
});

export const personToken = z.object({
  access_token: z.string().describe('A Latch API token (latch_…) acting as the person: send it as Authorization: Bearer'),
  token_type: z.literal('Bearer'),
  expires_in: z.int(),
  expires_at: z.iso.datetime(),
  user: z.string().describe('The Slack user id the token acts as'),
});

const API_STATES = ['pending_approval', 'approved', 'active', 'revoked', 'denied', 'cancelled', 'expired', 'failed'] as const;
export type ApiRequestState = (typeof API_STATES)[number];

const timestamp = z.iso.datetime();

export const requestResource = z
  .object({
    id: z.uuid(),
    state: z.enum(API_STATES).describe('pending_approval until people decide in Slack; active once granted'),
    resource: z.string(),
    role: z.string(),
    account: z.string().nullable().describe('The account the access is granted to'),
    durationSeconds: z.int(),
    reason: z.string(),
    ticket: z.string().nullable(),
    // Optional so that `latch request` and `latch mcp` keep reading a Latch from before it; this one always sends it.
    scope: z.record(z.string(), z.array(z.string())).nullable().optional().describe('What of the role was asked for, when its policy declares scope parameters; null for the whole role'),
    createdAt: timestamp,
    decidedAt: timestamp.nullable(),
    decidedByRule: z.string().nullable().describe('The auto-approval rule that approved it, when the policy decided'),
    outcome: z.string().nullable().describe('Why it was denied, cancelled, expired or failed'),
    grant: z
      .object({
        grantedAt: timestamp.nullable(),
        expiresAt: timestamp.nullable(),
        revokedAt: timestamp.nullable(),
        // Optional so that `latch request` and `latch mcp` keep reading a Latch from before it; this one always sends it.
        verifiedRevokedAt: timestamp
          .nullable()
          .optional()
          .describe(
            'When Latch, looking at the target again after revoking, found the access gone; null until then, and for a revocation the target could not be asked about (a webhook without verifyRevocations) or that another grant of the same access covered. Always sent; absent only from older Latch versions',
          ),
      })
      .nullable(),
  });

export const accessList = z.object({ access: z.array(requestResource) });

export const requestBundle = z
  .object({
    bundle: z.uuid().describe('The id shared by the items: the item whose approval card in Slack shows them all'),
    requests: z.array(requestResource).describe('One request an item, in the order asked: follow each with GET /requests/{id}'),
  })
  .describe('The answer to a request for several resources at once (items)');

export const credentialsResource = z
  .object({
    host: z.string(),
    port: z.int(),
    database: z.string(),
    user: z.string().describe('The login Latch created for this request'),
    password: z.string().describe('Given once: Latch keeps no copy, and a second call is refused'),
    validUntil: timestamp.nullable().describe('When the database itself stops accepting the login'),
  })
  .describe('Credentials of a login Latch created for one request (a resource with credentials: dynamic)');

export const problemDetails = z
  .object({
    type: z.string().describe('A URI naming the kind of problem'),
    title: z.string(),
    status: z.int(),
    detail: z.string().describe('What went wrong, fit to show a person'),
    code: z.string().describe('A stable code for programs; the detail may be reworded'),
    errors: z.record(z.string(), z.string()).optional().describe('For invalid input: a message per field'),
  });

/** The named schemas of the OpenAPI document's components: each is referenced where it is used. */
export const apiSchemas = z.registry<{ id: string }>();
apiSchemas.add(createRequestBody, { id: 'CreateRequest' });
apiSchemas.add(requestResource, { id: 'Request' });
apiSchemas.add(accessList, { id: 'AccessList' });
apiSchemas.add(requestBundle, { id: 'RequestBundle' });
apiSchemas.add(credentialsResource, { id: 'Credentials' });
apiSchemas.add(problemDetails, { id: 'Problem' });
apiSchemas.add(oidcTokenBody, { id: 'OidcTokenExchange' });
apiSchemas.add(exchangedToken, { id: 'ExchangedToken' });
apiSchemas.add(startLoginBody, { id: 'StartLogin' });
apiSchemas.add(startedLogin, { id: 'StartedLogin' });
apiSchemas.add(collectLoginBody, { id: 'CollectLogin' });
apiSchemas.add(personToken, { id: 'PersonToken' });

export type RequestResource = z.infer<typeof requestResource>;
export type CredentialsResource = z.infer<typeof credentialsResource>;
export type ProblemDetails = z.infer<typeof problemDetails>;
export type StartedLogin = z.infer<typeof startedLogin>;
export type PersonToken = z.infer<typeof personToken>;
