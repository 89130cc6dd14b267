import pg from 'pg';
import { findResource } from '../../domain/policy.ts';
import { rowScopesInstallSql, rowScopesProblems, type ScopedColumn } from '../../providers/postgres/row-scopes.ts';
import { parsePostgresSettings } from '../../providers/postgres/settings.ts';
import { tableGrantsProblems } from '../../providers/postgres/table-grants.ts';
import { CliError, EXIT } from '../cli-error.ts';
import { loadPolicyOrFail } from '../load-policy.ts';

/**
 * `latch scopes install <resource>` prints the SQL a DBA applies once on a postgres resource's
 * target for its `rowScopes` and `tableGrants` (src/providers/postgres/row-scopes.ts,
 * table-grants.ts); `latch scopes check
 * <resource>` connects as the grantor and says what is missing, exiting 1 until nothing is.
 */
export async function scopesCommand(subcommand: 'install' | 'check', resourceId: string, policyFile: string, source: NodeJS.ProcessEnv = process.env): Promise<void> {
  const resource = findResource(await loadPolicyOrFail(policyFile, EXIT.config), resourceId);
  if (!resource) throw new CliError(`the policy has no resource "${resourceId}"`, EXIT.config);
  if (resource.provider.type !== 'postgres') throw new CliError(`${resourceId} is granted by the ${resource.provider.type} provider: row-level scopes are for postgres resources`, EXIT.config);
  const settings = parsePostgresSettings(resource.provider.settings);
  if (!settings.ok) throw new CliError(settings.problems.join('\n'), EXIT.config);
  const columns: ScopedColumn[] = Object.entries(settings.settings.rowScopes ?? {}).flatMap(([scope, list]) => list.map((column) => ({ scope, ...column })));
  const tableGrants = settings.settings.tableGrants;
  if (columns.length === 0 && !tableGrants) {
    throw new CliError(`${resourceId} has no rowScopes or tableGrants in its provider settings: name the table columns each scope limits, or the tables a request may name, first`, EXIT.config);
  }
  const url = source[settings.settings.connectionStringEnv];
  if (!url) throw new CliError(`${settings.settings.connectionStringEnv} is not set: it holds the grantor's connection string, as for \`latch start\``, EXIT.config);
  let grantor: string;
  try {
    grantor = decodeURIComponent(new URL(url).username);
  } catch {
    throw new CliError(`${settings.settings.connectionStringEnv} is not a postgresql:// connection string`, EXIT.config);
  }
  if (subcommand === 'install') {
    process.stdout.write(rowScopesInstallSql({ grantor, columns, tables: tableGrants?.tables ?? [] }));
    process.stderr.write(`latch: apply this as the owner of the tables (psql -v ON_ERROR_STOP=1 -f …), then run \`latch scopes check ${resourceId}\`\n`);
    return;
  }
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  try {
    await client.connect();
  } catch (error) {
    // Never the connection string: it holds the grantor's password.
    throw new CliError(`could not connect to ${resourceId}'s database as the grantor: ${(error as Error).message.replace(url, '…')}`, EXIT.unavailable);
  }
  try {
    const problems = [...new Set([...(await rowScopesProblems(client, columns)), ...(tableGrants ? await tableGrantsProblems(client, tableGrants) : [])])];
    if (problems.length > 0) throw new CliError([`${resourceId}: ${problems.length} problem(s) with its scopes`, ...problems.map((problem) => `  ${problem}`)].join('\n'));
    if (columns.length > 0) process.stdout.write(`${resourceId}: row-level scopes in place for ${columns.map((column) => `${column.scope} (${column.table}.${column.column})`).join(', ')}\n`);
    if (tableGrants) process.stdout.write(`${resourceId}: table grants (${tableGrants.scope}) in place for ${tableGrants.tables.join(', ')}\n`);
  } finally {
    await client.end();
  }
}
