import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { accessList, createRequestBody, requestItem, credentialsResource, requestResource, type CredentialsResource, type RequestResource } from '../api/api-schemas.ts';
import { resourceOf } from '../api/api-listener.ts';
import { endAccessEarly } from '../services/end-access-early.ts';
import { issueCredentials } from '../services/issue-credentials.ts';
import { listOwnAccess, readOwnRequest } from '../services/read-own-request.ts';
import type { Logger } from '../logging/logger.ts';
import type { Refused } from '../services/refusal.ts';
import { requestAccess } from '../services/request-access.ts';
import type { ServiceContext } from '../services/service-context.ts';
import { MAX_WAIT_MS, waitForRequest } from '../services/wait-for-request.ts';

/** The machine an MCP call was authenticated as (authenticate-machine.ts). */
export interface McpCaller {
  requesterId: string;
  machineId: string;
  tokenId: string;
}

/** The name and version an MCP client sees for Latch. */
export const LATCH_MCP_SERVER = { name: 'latch', version: '1.0.0' } as const;

const MAX_WAIT_SECONDS = MAX_WAIT_MS / 1000;
/** Under the MCP SDK clients' default request timeout (60 s), so a default wait never times out the client. */
const DEFAULT_WAIT_SECONDS = 30;

const requestId = z.string().min(1).max(64).describe('The request id request_access answered with');

/**
 * Latch's tools for one authenticated machine: an AI agent asks for access, waits for people to
 * decide in Slack, sees its access and gives it back. They call the same use cases as /api/v1 and
 * answer with the same request resource (api-schemas.ts), as structured content and as text an
 * agent can read. A tool sees only its caller's own requests: another's id is not found. There is
 * no tool to approve or deny: machines never decide.
 *
 * One server a call (the HTTP endpoint is stateless): the caller is fixed when it is built, and
 * `ending` aborts when the call is ending (its client hung up, or this process is shutting down),
 * which cuts a wait short: it answers the request as it stands, and the agent asks again. A tool
 * that fails unexpectedly answers a plain tool error and logs why: the SDK would otherwise hand the
 * agent the error's own message, which may say more about Latch's insides than an agent should read.
 */
export function createLatchMcpServer({ services, logger, caller, ending }: { services: ServiceContext; logger: Logger; caller: McpCaller; ending: AbortSignal }): McpServer {
  const server = new McpServer(LATCH_MCP_SERVER, {
    instructions:
      'Latch gives temporary access to sensitive resources once people approve it in Slack. Call request_access with the task you are doing, then wait_for_decision with the request id until it is active (or ends without access); for a database that makes a login per request, get_credentials once it is active (shown once); and release_access as soon as the task is done.',
  });

  server.registerTool(
    'request_access',
    {
      title: 'Request access',
      description:
        'Ask for temporary access to a resource of the policy. People approve or deny it in Slack; the answer is usually pending_approval with the request id: then call wait_for_decision. A request beyond the policy is refused with the reason.',
      inputSchema: {
        // One resource a call: the API's `items` (several at once) is not offered to agents here.
        resource: requestItem.shape.resource,
        role: requestItem.shape.role,
        duration: createRequestBody.shape.duration,
        ticket: createRequestBody.shape.ticket,
        scope: requestItem.shape.scope,
        reason: createRequestBody.shape.reason.describe('The task you are doing that needs this access, in a sentence: shown to the people who approve'),
      },
      outputSchema: requestResource.shape,
      annotations: { destructiveHint: false, idempotentHint: false, openWorldHint: false },
    },
    safely('request_access', async ({ resource, role, duration, reason, ticket, scope }) => {
      const made = await requestAccess(services, { requesterId: caller.requesterId, resourceId: resource, role, duration, reason, ticket: ticket ?? null, scope: scope ?? null, tokenId: caller.tokenId });
      if (!made.ok) return refusedResult(made);
      return ownRequestResult(made.requestId);
    }),
  );

  server.registerTool(
    'check_request',
    {
      title: 'Check a request',
      description: 'Where one of your requests stands now: pending_approval, approved (being granted), active (granted, with its end), or how it ended.',
      inputSchema: { id: requestId },
      outputSchema: requestResource.shape,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    safely('check_request', ({ id }) => ownRequestResult(id)),
  );

  server.registerTool(
    'wait_for_decision',
    {
      title: 'Wait for a decision',
      description: `Wait up to \`seconds\` (at most ${MAX_WAIT_SECONDS}) for one of your requests to be granted or to end without access, then answer where it stands. Still pending_approval when the time is up: call it again. Many MCP clients give up on a call after 60 s: stay under yours.`,
      inputSchema: {
        id: requestId,
        seconds: z.int().min(1).max(MAX_WAIT_SECONDS).default(DEFAULT_WAIT_SECONDS).describe(`How long to wait at most, in seconds (1 to ${MAX_WAIT_SECONDS}, default ${DEFAULT_WAIT_SECONDS})`),
      },
      outputSchema: requestResource.shape,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    safely('wait_for_decision', async ({ id, seconds }, extra) => {
      // The MCP client cancelling the call, or the call ending: either ends the wait.
      const signal = AbortSignal.any([extra.signal, ending]);
      const waited = await waitForRequest(services, { requesterId: caller.requesterId, requestId: id, timeoutMs: seconds * 1000, signal });
      if (!waited.ok) return refusedResult(waited);
      return requestResult(resourceOf(waited));
    }),
  );

  server.registerTool(
    'list_access',
    {
      title: 'List your access',
      description: 'Your access that is granted or being granted, with when each ends.',
      outputSchema: accessList.shape,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    safely('list_access', async () => {
      const access = (await listOwnAccess(services, caller.requesterId)).map(resourceOf);
      const lines = access.map((request) => `- ${summaryOf(request)}`);
      const text = access.length === 0 ? 'You hold no access from Latch.' : `Your access (${access.length}):\n${lines.join('\n')}`;
      return { content: [{ type: 'text', text }], structuredContent: { access } };
    }),
  );

  server.registerTool(
    'get_credentials',
    {
      title: 'Get the credentials',
      description:
        'The login and password of one of your requests once it is active, for a resource that makes a login per request (a database with dynamic credentials). They are shown ONCE: Latch keeps no copy and refuses a second call, so keep them for the task and never repeat them in your answer or a log. Refused before the access is active, and for a resource that grants access to an account of your own.',
      inputSchema: { id: requestId },
      outputSchema: credentialsResource.shape,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    },
    safely('get_credentials', async ({ id }) => {
      const issued = await issueCredentials(services, { requestId: id, requesterId: caller.requesterId, tokenId: caller.tokenId });
      if (!issued.ok) return refusedResult(issued);
      const credentials: CredentialsResource = { ...issued.credentials, validUntil: issued.credentials.validUntil?.toISOString() ?? null };
      const text = [
        `Credentials of request ${id}, shown once (Latch keeps no copy): host ${credentials.host}, port ${credentials.port}, database ${credentials.database}, user ${credentials.user}, password ${credentials.password}, valid until ${credentials.validUntil ?? 'the end of the access'}.`,
        'Call release_access when your task is done: the login is then dropped.',
      ].join(' ');
      return { content: [{ type: 'text', text }], structuredContent: credentials };
    }),
  );

  server.registerTool(
    'release_access',
    {
      title: 'Release access',
      description: 'Give back access you hold before it ends, once your task is done: Latch revokes it at once.',
      inputSchema: { id: requestId },
      outputSchema: requestResource.shape,
      annotations: { destructiveHint: true, idempotentHint: true, openWorldHint: false },
    },
    safely('release_access', async ({ id }) => {
      // Only the caller's own: another's request answers as one that does not exist.
      const own = await readOwnRequest(services, { requesterId: caller.requesterId, requestId: id });
      if (!own.ok) return refusedResult(own);
      const ended = await endAccessEarly(services, { requestId: id, userId: caller.requesterId, tokenId: caller.tokenId });
      if (!ended.ok) return refusedResult(ended);
      return ownRequestResult(id);
    }),
  );

  /** The tool's handler, with an unexpected failure logged and answered without its details. */
  function safely<Args extends unknown[]>(tool: string, handler: (...args: Args) => Promise<CallToolResult>): (...args: Args) => Promise<CallToolResult> {
    return async (...args) => {
      try {
        return await handler(...args);
      } catch (error) {
        logger.error({ err: error, tool, machine: caller.machineId }, 'an MCP tool failed');
        return { content: [{ type: 'text', text: `Latch could not run ${tool} because of an internal error; it is logged. Try again later.` }], isError: true };
      }
    };
  }

  async function ownRequestResult(id: string): Promise<CallToolResult> {
    const own = await readOwnRequest(services, { requesterId: caller.requesterId, requestId: id });
    if (!own.ok) return refusedResult(own);
    return requestResult(resourceOf(own));
  }

  return server;
}

function requestResult(request: RequestResource): CallToolResult {
  return { content: [{ type: 'text', text: summaryOf(request) }], structuredContent: request };
}

/**
 * A refusal as a tool error (the agent reads it and may correct itself): the words a person gets,
 * and each field's own message when it names fields.
 */
function refusedResult({ refusal }: Refused): CallToolResult {
  const fields = Object.entries(refusal.fields ?? {}).map(([field, message]) => `\n- ${field}: ${message}`);
  return { content: [{ type: 'text', text: `Refused (${refusal.code}): ${refusal.message}${fields.join('')}` }], isError: true };
}

/** One sentence an agent (or the person reading its transcript) understands without the JSON. */
function summaryOf(request: RequestResource): string {
  const what = `Request ${request.id} (${request.role} on ${request.resource} for ${request.durationSeconds} s)`;
  switch (request.state) {
    case 'pending_approval':
      return `${what} is pending_approval: people decide in Slack. Call wait_for_decision with id ${request.id}.`;
    case 'approved':
      return `${what} is approved and being granted: call wait_for_decision again in a moment.`;
    case 'active':
      return `${what} is active: access granted until ${request.grant?.expiresAt ?? 'its end'}. Call release_access when your task is done.`;
    default:
      return `${what} is ${request.state}${request.outcome ? `: ${request.outcome}` : ''}. It gives no access.`;
  }
}
