import { z } from 'zod';
import { MAX_IDEMPOTENCY_KEY_LENGTH } from '../domain/idempotency-key.ts';
import { apiSchemas, waitSeconds } from './api-schemas.ts';

/** The path every API route lives under, on latch web's port. */
export const API_PREFIX = '/api/v1';

const ref = (id: string) => ({ $ref: `#/components/schemas/${id}` });
const json = (id: string) => ({ content: { 'application/json': { schema: ref(id) } } });
const problem = (description: string) => ({ description, content: { 'application/problem+json': { schema: ref('Problem') } } });
const idempotencyKey = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  description: 'Makes a retry safe: the same key and body from the same machine answer the request the first call made (200, Idempotent-Replayed: true) instead of making another',
  schema: { type: 'string', minLength: 1, maxLength: MAX_IDEMPOTENCY_KEY_LENGTH, pattern: '^[\\x20-\\x7e]+$' },
};
const requestId = { name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } };
const errors = {
  401: problem('No token, or one that is invalid, expired, revoked, of a machine no longer in the policy, or exchanged for OIDC claims its rules no longer accept'),
  429: problem('Too many calls from this machine (rate_limited), or too many with a bad token from this address, so no token from it is checked for now (too_many_failed_token_checks): wait for Retry-After seconds'),
};

/**
 * The OpenAPI 3.1 document of `/api/v1`, with its schemas generated from the zod schemas the
 * handlers parse with (zod's own JSON Schema output, the dialect OpenAPI 3.1 uses).
 */
export function openApiDocument(): Record<string, unknown> {
  const { schemas } = z.toJSONSchema(apiSchemas, { uri: (id) => `#/components/schemas/${id}`, io: 'output' }) as { schemas: Record<string, Record<string, unknown>> };
  // The request body is read as input: its optional fields stay optional.
  const { schemas: inputs } = z.toJSONSchema(apiSchemas, { uri: (id) => `#/components/schemas/${id}`, io: 'input' }) as { schemas: Record<string, Record<string, unknown>> };
  const components = Object.fromEntries(Object.entries({ ...schemas, CreateRequest: inputs.CreateRequest!, StartLogin: inputs.StartLogin! }).map(([id, schema]) => [id, withoutDialect(schema)]));
  return {
    openapi: '3.1.0',
    info: {
      title: 'Latch API',
      version: '1',
      description:
        'Machines (pipelines, agents) ask for just-in-time access; people decide in Slack. Authenticate with a token from `latch token create <machine>`, or one a workload gets for its OIDC token at POST /oidc/token. People use the same routes from a terminal with the token of a `latch login` they confirmed in Slack (POST /logins).',
    },
    servers: [{ url: API_PREFIX }],
    security: [{ bearer: [] }],
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'latch_… token' } }, schemas: components },
    paths: {
      '/requests': {
        post: {
          operationId: 'createRequest',
          summary: 'Ask for access; answers pending_approval while people decide in Slack, or the refusal',
          parameters: [idempotencyKey],
          requestBody: { required: true, ...json('CreateRequest') },
          responses: {
            200: { description: 'The same Idempotency-Key and body as an earlier call: the request that call made', headers: { 'Idempotent-Replayed': { schema: { type: 'string', const: 'true' } } }, ...json('Request') },
            201: {
              description: 'The request was made: a Request, or with items a RequestBundle (one request an item)',
              content: { 'application/json': { schema: { oneOf: [ref('Request'), ref('RequestBundle')] } } },
            },
            403: problem('The policy does not allow it'),
            409: problem('A limit of the policy'),
            422: problem('The body is not a valid request, or its Idempotency-Key was used for a different one'),
            ...errors,
          },
        },
      },
      '/requests/{id}': {
        get: {
          operationId: 'getRequest',
          summary: "One of the caller's own requests; with ?wait=N, once it settles or N seconds have passed (long-poll)",
          parameters: [requestId, { name: 'wait', in: 'query', required: false, schema: withoutDialect(z.toJSONSchema(waitSeconds) as Record<string, unknown>) }],
          responses: { 200: { description: 'The request', ...json('Request') }, 404: problem('No such request among the caller\'s'), 422: problem('wait is not a whole number from 0 to 60'), ...errors },
        },
      },
      '/requests/{id}/release': {
        post: {
          operationId: 'releaseRequest',
          summary: 'End the access early (the task is done)',
          parameters: [requestId],
          responses: { 200: { description: 'The access is being revoked', ...json('Request') }, 404: problem('No such request among the caller\'s'), 409: problem('The access is not active'), ...errors },
        },
      },
      '/requests/{id}/credentials': {
        post: {
          operationId: 'fetchCredentials',
          summary: 'The credentials of the login made for this request (credentials: dynamic), once',
          parameters: [requestId],
          responses: {
            200: { description: 'The credentials; a second call is refused', ...json('Credentials') },
            404: problem('No such request among the caller\'s'),
            409: problem('Not granted yet, no longer active, handed out already, or a resource without credentials'),
            503: problem('The database could not set them just now: try again'),
            ...errors,
          },
        },
      },
      '/access': {
        get: {
          operationId: 'listAccess',
          summary: "The caller's approved or active access",
          responses: { 200: { description: 'The access', ...json('AccessList') }, ...errors },
        },
      },
      '/logins': {
        post: {
          operationId: 'startLogin',
          summary: "Start a person's `latch login`: they type the code in Slack (/request-access login <code>) and confirm",
          security: [],
          requestBody: { required: false, ...json('StartLogin') },
          responses: { 201: { description: 'The login, waiting for the person', ...json('StartedLogin') }, 422: problem('The body is not valid'), 429: problem('Too many logins started from this address (rate_limited), or too many waiting to be confirmed in all (too_many_waiting_logins): wait for Retry-After seconds') },
        },
      },
      '/logins/token': {
        post: {
          operationId: 'collectLoginToken',
          summary: 'Poll for the token of a login, given once after the person confirmed it in Slack',
          security: [],
          requestBody: { required: true, ...json('CollectLogin') },
          responses: {
            200: { description: "The token acting as the person, shown once", ...json('PersonToken') },
            400: problem('authorization_pending (not confirmed yet: poll again after the interval), expired_token, or invalid_grant (unknown or already collected)'),
            403: problem('access_denied: the person refused the login in Slack'),
            429: problem('Polled too often from this address: wait for Retry-After seconds'),
          },
        },
      },
      '/logout': {
        post: {
          operationId: 'logout',
          summary: "End the caller's `latch login`: its token is refused from now on (people only)",
          responses: { 204: { description: 'Logged out' }, 403: problem('A machine token: revoke it with `latch token revoke`'), ...errors },
        },
      },
      '/oidc/token': {
        post: {
          operationId: 'exchangeOidcToken',
          summary: "Trade a workload's OIDC token (GitHub Actions, …) for a short-lived API token of the one machine its claims match",
          security: [],
          requestBody: {
            required: true,
            content: { 'application/json': { schema: ref('OidcTokenExchange') }, 'application/x-www-form-urlencoded': { schema: ref('OidcTokenExchange') } },
          },
          responses: {
            200: { description: 'The API token, shown once', ...json('ExchangedToken') },
            401: problem('The OIDC token is malformed, expired, replayed, wrongly signed, for another audience or from an issuer the policy does not trust'),
            403: problem("The token's claims match no machine of the policy, or more than one"),
            429: problem('Too many exchanges from this address: wait for Retry-After seconds'),
            503: problem("The issuer's keys could not be read just now"),
          },
        },
      },
    },
  };
}

function withoutDialect(schema: Record<string, unknown>): Record<string, unknown> {
  // Each component is known by its place in the document, not by a dialect or id of its own.
  const { $schema: _dialect, $id: _id, ...rest } = schema;
  return rest;
}
