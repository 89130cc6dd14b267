/**
 * Where MCP clients reach Latch: on the same port as Slack's requests and /api/v1. Its own file,
 * so `latch mcp` (a proxy to it) loads none of the server's modules.
 */
export const MCP_PATH = '/mcp';
