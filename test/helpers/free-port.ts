import { createServer } from 'node:net';

// Below Linux's ephemeral range (32768–60999 by default), from which the kernel picks the local
// port of every outgoing connection: a port found free there can be taken by one of the other test
// files' connections (to PostgreSQL, Redis, a fake) before the child process binds it, which made
// `latch start` fail now and then with EADDRINUSE. Here only another test's listener can take it,
// and each is checked free before it is handed out.
const LOWEST = 20_000;
const SPAN = 12_000;

/** A loopback port nothing listens on right now, for a child process that needs a fixed PORT. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = LOWEST + Math.floor(Math.random() * SPAN);
    if (await isFree(port)) return port;
  }
  throw new Error(`no free port found between ${LOWEST} and ${LOWEST + SPAN}`);
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
