import pg from 'pg';

/**
 * One audit event as the chain check needs it, every field as PostgreSQL's text. An event of
 * hash format 2 comes with `v2Input`, the text its hash covers, rendered by the database from
 * the stored row (the same rendering as latch_audit_hash_input_v2, migration 20261203210000);
 * any other comes with its fields, for hashing in Node.
 */
export type AuditChainRow = [
  seq: string,
  hashFormat: string,
  prevHash: string,
  hash: string,
  v2Input: string | null,
  atMs: string | null,
  actor: string | null,
  action: string | null,
  requestId: string | null,
  data: string | null,
];

const BATCH = 10_000;

/**
 * Ordered by the table's column: a bare `ORDER BY seq` would sort the output column `seq::text`
 * ("10" before "2").
 *
 * Rendered here rather than by calling latch_audit_hash_input_v2: whoever can replace a function
 * in the database must not be able to change what the verifier hashes. Built-ins are
 * schema-qualified for the same reason. The array is written out by concatenation, not built as
 * a jsonb value and printed (a third of the query's time): to_json of text escapes strings with
 * the very routine jsonb's output uses, and data::text is jsonb's output.
 */
const CHAIN_QUERY = `
  SELECT seq::text, hash_format::text, prev_hash, hash,
    CASE WHEN hash_format = 2 THEN
      '["latch-audit-v2", "' || seq::text || '", "' || pg_catalog.to_char(pg_catalog.timezone('UTC', at), 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || '", ' ||
      pg_catalog.to_json(actor)::text || ', ' || pg_catalog.to_json(action)::text || ', ' || COALESCE(pg_catalog.to_json(request_id::text)::text, 'null') || ', ' ||
      pg_catalog.to_json(prev_hash)::text || ', ' || data::text || ']' END,
    CASE WHEN hash_format <> 2 THEN (pg_catalog.date_part('epoch', at) * 1000)::bigint::text END,
    CASE WHEN hash_format <> 2 THEN actor END,
    CASE WHEN hash_format <> 2 THEN action END,
    CASE WHEN hash_format <> 2 THEN request_id::text END,
    CASE WHEN hash_format <> 2 THEN data::text END
  FROM audit_events WHERE seq > $1 ORDER BY audit_events.seq LIMIT ${BATCH}`;

/** Every value as the text PostgreSQL sent: nothing parsed that the check does not need. */
const asText = { getTypeParser: () => (value: string) => value };

/**
 * Reads the whole audit chain in sequence order with plain `pg` (none of the ORM's per-row cost),
 * a batch at a time, the next batch asked for before this one is handed over, so PostgreSQL
 * reads and renders it while the caller hashes: memory holds two batches whatever the chain's
 * length. Stop early by returning from the loop; the connection is closed either way.
 */
export async function* readAuditChain(databaseUrl: string): AsyncGenerator<AuditChainRow[]> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'latch-audit-verify', types: asText });
  await client.connect();
  try {
    const batchAfter = (seq: string) => client.query<AuditChainRow>({ text: CHAIN_QUERY, values: [seq], rowMode: 'array' });
    let next: Promise<pg.QueryResult<AuditChainRow>> | null = batchAfter('0');
    try {
      while (next) {
        const { rows }: pg.QueryResult<AuditChainRow> = await next;
        next = rows.length === BATCH ? batchAfter(rows[BATCH - 1]![0]) : null;
        yield rows;
      }
    } finally {
      // A caller that stopped early leaves the batch after in flight: let it land, unheard.
      await next?.catch(() => undefined);
    }
  } finally {
    await client.end();
  }
}

/** The hash stored for event `seq`, or null when there is none. */
export async function readAuditHash(databaseUrl: string, seq: bigint): Promise<string | null> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'latch-audit-verify' });
  await client.connect();
  try {
    const { rows } = await client.query<{ hash: string }>('SELECT hash FROM audit_events WHERE seq = $1', [seq.toString()]);
    return rows[0]?.hash ?? null;
  } finally {
    await client.end();
  }
}
