import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/logging/logger.ts';
import { createLatchMcpServer } from '../../../src/mcp/latch-mcp-server.ts';
import type { ServiceContext } from '../../../src/services/service-context.ts';

const CALLER = { requesterId: 'machine:agent', machineId: 'agent', tokenId: '0190aaaa-0000-7000-8000-000000000001' };
const REQUEST_ID = '0190aaaa-0000-7000-8000-000000000002';

/** A client connected in memory to Latch's tools over `accessRequest` (the database's reads). */
async function toolsOver(accessRequest: Record<string, () => Promise<unknown>>, ending = new AbortController().signal) {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({ level: 'info', destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) } });
  const services = { db: { accessRequest } } as unknown as ServiceContext;
  const server = createLatchMcpServer({ services, logger, caller: CALLER, ending });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: 'test', version: '1.0.0' });
  await client.connect(clientSide);
  return { client, lines };
}

function toolsOverFailingDatabase(failure: Error) {
  const fail = () => Promise.reject(failure);
  return toolsOver({ findUnique: fail, findMany: fail });
}

const PENDING = {
  id: REQUEST_ID,
  requesterSlackId: CALLER.requesterId,
  state: 'pending',
  resourceId: 'prod-db',
  role: 'read',
  principal: 'agent_bot',
  durationSeconds: 900,
  reason: 'Run the report',
  ticket: null,
  createdAt: new Date('2026-12-01T10:00:00Z'),
  decidedAt: null,
  decidedByRule: null,
  outcomeReason: null,
  grant: null,
};

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

  it('end a wait for a decision when the call is ending (Latch shutting down), answering the request as it stands', async () => {
    const ending = new AbortController();
    let reads = 0;
    const { client } = await toolsOver({ findUnique: () => Promise.resolve(++reads === 2 ? (ending.abort(), PENDING) : PENDING) }, ending.signal);
    // Without the abort this would wait the full minute, past the test's timeout.
    const result = (await client.callTool({ name: 'wait_for_decision', arguments: { id: REQUEST_ID, seconds: 60 } })) as CallToolResult;
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ id: REQUEST_ID, state: 'pending_approval', account: 'agent_bot', reason: 'Run the report' });
    await client.close();
  });
});
