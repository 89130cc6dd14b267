import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/logging/logger.ts';
import { createLatchMcpServer } from '../../../src/mcp/latch-mcp-server.ts';
import type { ServiceContext } from '../../../src/services/service-context.ts';

const CALLER = { requesterId: 'machine:agent', machineId: 'agent', tokenId: '0190aaaa-0000-7000-8000-000000000001' };
const REQUEST_ID = '0190aaaa-0000-7000-8000-000000000002';

/** A client connected in memory to the tools of a Latch whose database fails with `failure`. */
async function toolsOverFailingDatabase(failure: Error) {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({ level: 'info', destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) } });
  const fail = () => Promise.reject(failure);
  const services = { db: { accessRequest: { findUnique: fail, findMany: fail } } } as unknown as ServiceContext;
  const server = createLatchMcpServer({ services, logger, caller: CALLER, hangUp: new AbortController().signal });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: 'test', version: '1.0.0' });
  await client.connect(clientSide);
  return { client, lines };
}

describe("Latch's MCP tools", () => {
  it('answer an unexpected failure with a plain tool error, and keep its details for the log', async () => {
    const { client, lines } = await toolsOverFailingDatabase(new Error('connect ECONNREFUSED postgresql://latch:s3cret@db.internal:5432/latch'));
    for (const [name, args] of [['check_request', { id: REQUEST_ID }], ['list_access', {}], ['wait_for_decision', { id: REQUEST_ID, seconds: 1 }]] as const) {
      const result = (await client.callTool({ name, arguments: args })) as CallToolResult;
      expect(result.isError, name).toBe(true);
      const text = JSON.stringify(result);
      expect(text).toContain(`Latch could not run ${name} because of an internal error`);
      expect(text).not.toContain('ECONNREFUSED');
      expect(text).not.toContain('s3cret');
    }
    expect(lines.filter((line) => line.msg === 'an MCP tool failed').map((line) => line.tool)).toEqual(['check_request', 'list_access', 'wait_for_decision']);
    await client.close();
  });

  it('refuse an id that is not a request id without reading the database', async () => {
    const { client } = await toolsOverFailingDatabase(new Error('the database must not be read'));
    const result = (await client.callTool({ name: 'check_request', arguments: { id: 'not-a-request-id' } })) as CallToolResult;
    expect(result).toMatchObject({ isError: true, content: [{ type: 'text', text: 'Refused (not_found): There is no request with this id among yours.' }] });
    await client.close();
  });
});
