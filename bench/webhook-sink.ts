import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The target of the bench policy's webhook provider: answers every call 204 and counts them. Not
 * test/helpers/webhook-receiver.ts, which checks each signature and keeps state: that work would
 * land in the bench driver's CPU, which the sections measure beside Latch's.
 */
export interface WebhookSink {
  url: string;
  calls(): number;
  close(): Promise<void>;
}

export async function startWebhookSink(): Promise<WebhookSink> {
  let calls = 0;
  const server = createServer((req, res) => {
    calls++;
    req.resume();
    req.on('end', () => res.writeHead(204).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/latch`,
    calls: () => calls,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
