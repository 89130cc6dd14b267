import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { bindMigrationAwareSqlAdapterFactory } from '@prisma/driver-adapter-utils';
import type { SchemaEngine, SchemaFilter } from '@prisma/schema-engine-wasm';

/**
 * Prisma's schema engine compiled to WebAssembly, driving PostgreSQL through the same `pg` adapter
 * the app uses, for development and CI only: the drift check diffs with it, and the tests migrate
 * with it to get the history `prisma migrate deploy` writes, which Latch's own runner
 * (src/store/migrate.ts) must match. Prisma's native engine would need a download from Prisma's
 * servers, which offline hosts cannot reach; this pre-release is called through its internals,
 * so nothing in production depends on it.
 */

type EngineModule = typeof import('@prisma/schema-engine-wasm');
type WasmExports = Record<string, unknown>;

// The global exists in Node; @types/node 20 does not declare it without the DOM library.
declare const WebAssembly: {
  instantiate(bytes: Uint8Array, imports: object): Promise<{ instance: { exports: WasmExports } }>;
};

export const NO_SCHEMA_FILTER: SchemaFilter = { externalTables: [], externalEnums: [] };

let engineModule: Promise<EngineModule> | undefined;

/**
 * The package imports its .wasm as an ES module, which plain Node 20 refuses without
 * --experimental-wasm-modules; instantiating the bytes ourselves needs no flag.
 */
function loadEngineModule(): Promise<EngineModule> {
  engineModule ??= (async () => {
    const entry = createRequire(import.meta.url).resolve('@prisma/schema-engine-wasm');
    const folder = dirname(entry);
    const bindings = (await import(join(folder, 'schema_engine_bg.js'))) as EngineModule & {
      __wbg_set_wasm(exports: WasmExports): void;
    };
    const bytes = await readFile(join(folder, 'schema_engine_bg.wasm'));
    const { instance } = await WebAssembly.instantiate(bytes, { './schema_engine_bg.js': bindings });
    bindings.__wbg_set_wasm(instance.exports);
    (instance.exports as { __wbindgen_start(): void }).__wbindgen_start();
    return bindings;
  })();
  return engineModule;
}

export interface OpenSchemaEngineOptions {
  databaseUrl: string;
  schemaPath: string;
  schema: string;
  /** Receives the engine's own log lines (JSON text). */
  onLog?: (line: string) => void;
}

export interface OpenSchemaEngine {
  engine: SchemaEngine;
  close(): void;
}

export async function openSchemaEngine(options: OpenSchemaEngineOptions): Promise<OpenSchemaEngine> {
  const bindings = await loadEngineModule();
  const pool = new pg.Pool({ connectionString: options.databaseUrl, max: 2, connectionTimeoutMillis: 10_000 });
  readCatalogCharsAsText(pool);
  pool.on('connect', readCatalogCharsAsText);
  const adapter = new WholeScriptPrismaPg(pool);
  const engine = await bindings.SchemaEngine.new(
    { datamodels: [[options.schemaPath, options.schema]] },
    options.onLog ?? (() => {}),
    bindMigrationAwareSqlAdapterFactory(adapter),
  );
  return {
    engine,
    close: () => {
      engine.free();
      void pool.end().catch(() => {});
    },
  };
}

/**
 * @prisma/adapter-pg 7.10 runs a migration script by splitting it on every `;`, which breaks a
 * function body (`$$ … ; … $$`) and any string containing `;`. Prisma's native engine sends the
 * script whole; so does this: one simple-protocol query, which PostgreSQL also runs as a single
 * implicit transaction, so a migration is applied entirely or not at all.
 */
class WholeScriptPrismaPg extends PrismaPg {
  constructor(private readonly scriptPool: pg.Pool) {
    super(scriptPool);
  }

  override async connect() {
    const adapter = await super.connect();
    const withErrors = adapter as unknown as { onError(error: unknown): never };
    adapter.executeScript = async (script: string) => {
      try {
        await this.scriptPool.query(script);
      } catch (error) {
        withErrors.onError(error);
      }
    };
    return adapter;
  }
}

/** PostgreSQL's internal one-byte `"char"` type, used by catalog columns such as `relkind`. */
const PG_CATALOG_CHAR_OID = 18;
const PG_TEXT_OID = 25;

type Queryable = { query: (...args: unknown[]) => unknown };

/**
 * The engine's introspection (used to diff a live database against the schema) selects catalog
 * columns of type `"char"`, which @prisma/adapter-pg 7.10 refuses to decode ("Column type 'char'
 * could not be deserialized"). pg already returns them as one-character strings, so telling the
 * adapter they are text is exact. Only this engine's own pool and its clients are patched.
 */
function readCatalogCharsAsText(target: pg.Pool | pg.PoolClient): void {
  const queryable = target as unknown as Queryable;
  const query = queryable.query.bind(queryable);
  queryable.query = (...args: unknown[]) => {
    const callback = args.at(-1);
    if (typeof callback === 'function') {
      args[args.length - 1] = (error: unknown, result: unknown) => callback(error, relabel(result));
      return query(...args);
    }
    const result = query(...args);
    return result instanceof Promise ? result.then(relabel) : result;
  };
}

function relabel(result: unknown): unknown {
  for (const field of (result as Partial<pg.QueryResult> | undefined)?.fields ?? []) {
    if (field.dataTypeID === PG_CATALOG_CHAR_OID) field.dataTypeID = PG_TEXT_OID;
  }
  return result;
}
