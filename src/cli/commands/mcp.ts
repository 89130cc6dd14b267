import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { CallToolRequestSchema, CallToolResultSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { MCP_PATH } from '../../mcp/mcp-path.ts';
import { CliError, EXIT } from '../cli-error.ts';
import { readEnv } from '../read-env.ts';

const blankAsMissing = (value: unknown) => (typeof value === 'string' && value.trim() === '' ? undefined : value);
const missingOr = (expected: string, invalid: string) => ({ error: (issue: { input?: unknown }) => (issue.input === undefined ? `is missing: set it to ${expected}` : invalid) });
const LATCH_URL = 'the http(s) URL of the Latch server, e.g. https://latch.example.com';
const LATCH_TOKEN = 'a machine API token (`latch token create <machine>` prints one)';

/**
 * What `latch mcp` reads: where Latch is, and the machine token it speaks with. Like every
 * variable's message (config/env.ts), none echoes the value: a token is a secret.
 */
const mcpEnvSchema = z.object({
  LATCH_URL: z.preprocess(blankAsMissing, z.url({ protocol: /^https?$/, ...missingOr(LATCH_URL, `is not a valid http:// or https:// URL: expected ${LATCH_URL}`) })),
  LATCH_TOKEN: z.preprocess(blankAsMissing, z.string(missingOr(LATCH_TOKEN, 'must be text')).regex(/^latch_\S+$/, `does not look like ${LATCH_TOKEN}`)),
});

/**
 * Longer than the longest wait_for_decision (60 s): the call is Latch's to end, not this proxy's.
 * The agent's own client keeps its own timeout.
 */
const FORWARD_TIMEOUT_MS = 90_000;

/**
 * `latch mcp`: an MCP server on stdin/stdout for an agent that runs locally (Claude Desktop or Code,
 * an IDE), which forwards every tool call to a Latch server's `/mcp` with the machine token of
 * LATCH_TOKEN. It holds no state and no rules of its own: what the tools are, who may do what and
 * every refusal come from the Latch server, so the agent sees exactly what an HTTP client would.
 * It connects before it serves, so a wrong URL or token stops it at once with the reason on stderr
 * (the agent's host shows it), and it ends when the agent closes its stdin.
 */
export async function mcpCommand(): Promise<void> {
  const env = readEnv(mcpEnvSchema);
  const upstream = new Client({ name: 'latch-mcp-stdio', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(MCP_PATH, env.LATCH_URL), {
    requestInit: { headers: { authorization: `Bearer ${env.LATCH_TOKEN}` } },
  });
  try {
    await upstream.connect(transport);
  } catch (error) {
    throw connectionError(error, env.LATCH_URL);
  }

  const server = new Server(upstream.getServerVersion() ?? { name: 'latch', version: '1.0.0' }, {
    capabilities: { tools: {} },
    ...(upstream.getInstructions() ? { instructions: upstream.getInstructions() } : {}),
  });
  server.setRequestHandler(ListToolsRequestSchema, (request, extra) => upstream.listTools(request.params, { signal: extra.signal }));
  // Forwarded as it is: the result, structured content and tool errors included, comes from Latch.
  server.setRequestHandler(CallToolRequestSchema, (request, extra) =>
    upstream.request({ method: 'tools/call', params: request.params }, CallToolResultSchema, { signal: extra.signal, timeout: FORWARD_TIMEOUT_MS }),
  );

  const stdin = process.stdin;
  const ended = new Promise<void>((resolve) => {
    stdin.once('end', resolve);
    stdin.once('close', resolve);
  });
  await server.connect(new StdioServerTransport(stdin, process.stdout));
  await ended;
  await server.close();
  await upstream.close();
}

/** Why Latch could not be reached or refused the token, in words for the person setting it up. */
function connectionError(error: unknown, url: string): CliError {
  if (error instanceof StreamableHTTPError && error.code !== undefined && error.code > 0) {
    // The SDK quotes the body: Latch answers with problem+json, whose detail says what to do.
    const detail = /"detail":"((?:[^"\\]|\\.)*)"/.exec(error.message)?.[1];
    const said = detail === undefined ? '' : `: ${JSON.parse(`"${detail}"`) as string}`;
    if (error.code === 401) return new CliError(`Latch at ${url} refused LATCH_TOKEN${said}`, EXIT.config);
    return new CliError(`Latch at ${url} answered ${error.code}${said}`, EXIT.unavailable);
  }
  return new CliError(`could not reach Latch at ${url}: ${error instanceof Error ? error.message : String(error)}`, EXIT.unavailable);
}
