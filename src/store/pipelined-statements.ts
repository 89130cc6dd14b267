import type pg from 'pg';

/**
 * Sends statements on one connection in one write, without waiting for each answer before sending
 * the next (PostgreSQL's pipelining; node-postgres's pipeline mode), and gives back each one's
 * result in order. PostgreSQL still runs them one after another, in the order sent, each with the
 * snapshot of its own start: a statement behind a lock that waits runs once the lock is granted,
 * and sees what the lock's previous holder committed.
 *
 * Why (issue 19): on a 2-vCPU machine each round trip `latch web` waits on costs it a socket write,
 * a wake-up and a read, about a tenth of a slash command's CPU. Two statements of a transaction
 * whose second does not depend on what the first returns (the requester's lock and the reads
 * under it; the request's insert and COMMIT) can go together.
 *
 * Only on a connection the caller holds and on which nothing else is running (a transaction's,
 * inSqlTransaction): node-postgres's pipeline mode is switched on for these statements alone and
 * off again once every one has answered, so the pool stays as database.ts made it (one statement
 * at a time: pipelining for everything made revocations late). A statement that fails makes the
 * transaction fail, and PostgreSQL refuses every later statement of it ("current transaction is
 * aborted"): the first failure is thrown, after every statement has answered. Where the installed
 * node-postgres has no pipeline mode, the statements are sent one at a time: slower, same results.
 */
export async function sendPipelined(client: pg.PoolClient, statements: readonly pg.QueryConfig[]): Promise<pg.QueryResult[]> {
  const pipelining = client as unknown as PipelineInternals;
  if (statements.length < 2 || !canPipeline(pipelining)) return sendOneByOne(client, statements);
  pipelining.pipeline = true;
  const stream = pipelining.connection.stream;
  // One write for all of them: each statement's messages join the corked stream.
  stream.cork();
  let sent: Array<Promise<pg.QueryResult>>;
  try {
    sent = statements.map((statement) => client.query(statement));
  } finally {
    stream.uncork();
  }
  // Every answer is awaited before pipeline mode goes off (the client reads the later answers in
  // that mode), and before a failure is thrown (no rejection is left unhandled).
  const settled = await Promise.allSettled(sent);
  pipelining.pipeline = false;
  const failed = settled.find((outcome) => outcome.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((outcome) => (outcome as PromiseFulfilledResult<pg.QueryResult>).value);
}

async function sendOneByOne(client: pg.PoolClient, statements: readonly pg.QueryConfig[]): Promise<pg.QueryResult[]> {
  const results: pg.QueryResult[] = [];
  for (const statement of statements) results.push(await client.query(statement));
  return results;
}

/** What of node-postgres's Client pipeline mode uses (pg 8.23: the `pipeline` option, read as each query is sent). */
interface PipelineInternals {
  pipeline: boolean;
  readyForQuery: boolean;
  _queryQueue: unknown[];
  _sentQueryQueue: unknown[];
  connection: { stream: { cork(): void; uncork(): void } };
}

/** A client of a node-postgres with pipeline mode, idle: nothing queued, sent or running. */
function canPipeline(client: PipelineInternals): boolean {
  return (
    client.pipeline === false &&
    client.readyForQuery === true &&
    Array.isArray(client._queryQueue) &&
    client._queryQueue.length === 0 &&
    Array.isArray(client._sentQueryQueue) &&
    client._sentQueryQueue.length === 0 &&
    typeof client.connection?.stream?.cork === 'function' &&
    typeof client.connection.stream.uncork === 'function'
  );
}
