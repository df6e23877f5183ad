import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { PrismaPg } from '@prisma/adapter-pg';
import { bindMigrationAwareSqlAdapterFactory } from '@prisma/driver-adapter-utils';
import type { SchemaEngine } from '@prisma/schema-engine-wasm' with { 'resolution-mode': 'import' };
import pg from 'pg';

// Prisma's CLI runs migrations through a native schema-engine binary that it downloads from
// outside npm at first use, which these machines cannot reach. `@prisma/schema-engine-wasm`
// is the same engine (same commit as the CLI we pin: see package.json) compiled to
// WebAssembly and published on npm. Driving it through the `pg` driver adapter gives the
// very SQL and `_prisma_migrations` bookkeeping that `prisma migrate deploy` produces.

// typescript-eslint's parser does not resolve an import type with `resolution-mode` (tsc does).
// eslint-disable-next-line @typescript-eslint/no-unsafe-assignment
type WasmBindings = typeof import('@prisma/schema-engine-wasm', { with: { 'resolution-mode': 'import' } });
type WasmExports = Record<string, unknown>;

// @types/node for Node 20 does not declare the WebAssembly global; describe the one call used.
declare const WebAssembly: {
  instantiate(bytes: Uint8Array, imports: object): Promise<{ instance: { exports: WasmExports } }>;
};

let bindings: Promise<WasmBindings> | undefined;

/** Instantiates the WebAssembly module once per process (it is stateless until `new`). */
function loadBindings(): Promise<WasmBindings> {
  bindings ??= (async () => {
    const require = createRequire(__filename);
    const glue = require.resolve('@prisma/schema-engine-wasm/schema_engine_bg');
    // The package's own entry imports the .wasm file as an ES module, which Node 20 cannot
    // do; instantiate it by hand with the JS glue as its import object, as wasm-bindgen's
    // "bundler" target expects.
    const bg = (await import(glue)) as WasmBindings & { __wbg_set_wasm(exports: WasmExports): void };
    const wasm = await readFile(path.join(path.dirname(glue), 'schema_engine_bg.wasm'));
    // The engine arms ~10 s housekeeping timers that would keep a finished `db:migrate`
    // process alive; unref them (its real work always holds a database socket open anyway).
    const imports: Record<string, unknown> = { ...bg };
    for (const name of Object.keys(imports).filter((key) => key.startsWith('__wbg_setTimeout_'))) {
      imports[name] = (callback: () => void, ms: number) => setTimeout(callback, ms >>> 0).unref();
    }
    const { instance } = await WebAssembly.instantiate(wasm, { './schema_engine_bg.js': imports });
    bg.__wbg_set_wasm(instance.exports);
    (instance.exports.__wbindgen_start as () => void)();
    return bg;
  })();
  return bindings;
}

export interface PrismaSchemaFile {
  path: string;
  content: string;
}

/**
 * Runs `work` with a schema engine connected to `databaseUrl`, then releases every
 * connection it opened (the engine itself never closes its pool).
 */
export async function withSchemaEngine<T>(
  databaseUrl: string,
  schema: PrismaSchemaFile,
  work: (engine: SchemaEngine, pool: pg.Pool) => Promise<T>,
): Promise<T> {
  const { SchemaEngine } = await loadBindings();
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  // An idle client's error (the server going away) must not crash the process.
  pool.on('error', () => {});
  try {
    const factory = new PrismaPg(pool);
    const engine = await SchemaEngine.new(
      { datamodels: [[schema.path, schema.content]] },
      () => {},
      bindMigrationAwareSqlAdapterFactory(wholeScriptFactory(factory, pool)),
    );
    try {
      return await work(engine, pool);
    } finally {
      engine.free();
    }
  } finally {
    await pool.end();
  }
}

/**
 * adapter-pg's `executeScript` splits a migration on every `;`, which breaks any statement
 * holding one (a DO block, a function body, a string literal) and runs the pieces outside a
 * transaction. The native engine sends the whole script as one simple query, which Postgres
 * runs atomically; do the same.
 */
function wholeScriptFactory(factory: PrismaPg, pool: pg.Pool): PrismaPg {
  const connect = factory.connect.bind(factory);
  return Object.assign(Object.create(factory) as PrismaPg, {
    async connect() {
      const adapter = await connect();
      adapter.executeScript = async (script: string) => {
        try {
          await pool.query(script);
        } catch (error) {
          (adapter as unknown as { onError(e: unknown): never }).onError(error);
        }
      };
      return adapter;
    },
  });
}
