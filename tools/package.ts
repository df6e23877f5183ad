// npm run package: exactly what is deployed, as .deploy/app/ and .deploy/app.zip.
//
// The functions and everything they import (the Speech SDK, Prisma's client with its query
// compiler, the Blob SDK, pg, …) bundled into one file by esbuild, beside host.json and a
// package.json whose `main` names it. No node_modules: the package does not depend on an
// install step, npm's peer-dependency rules or what the build machine had (the `prisma` CLI
// alone, a peer of @prisma/client, was ~200 MB of the old deployment). The Functions host
// loads it as it is; `npm run serve -- --app .deploy/app/dist/main.js` serves the same file
// locally, and the tests that start a host start it on this bundle.
import { readdir, readFile, rm, mkdir, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { build, type BuildOptions, type Metafile, type Plugin } from 'esbuild';
import { zipSync, type Zippable } from 'fflate';
import { projectRoot } from './project-root.ts';

/** Provided by the Functions host's Node worker at run time; never installed. */
const HOST_PROVIDED = ['@azure/functions-core'];
/**
 * Development only: the offline voice (TTS_PROVIDER=local, `npm start` without a key) and its
 * encoder. A deployment uses Azure Speech; asked for the local voice, it says what is missing.
 */
const DEVELOPMENT_ONLY = ['espeak-ng', '@breezystack/lamejs'];
/** Loaded inside try/catch by a dependency (debug's terminal colours): left out, it is skipped. */
const OPTIONAL = ['supports-color'];

/** Prisma's query compiler as the generated client imports it: WebAssembly in base64. */
const QUERY_COMPILER_BASE64 = '@prisma/client/runtime/query_compiler_small_bg.postgresql.wasm-base64.js';
/** The same WebAssembly as the package ships it, in dist/lazy/ (binary). */
const QUERY_COMPILER_WASM = 'query-compiler.wasm';

/**
 * Code an instance needs only for some requests, each in its own file (`dist/lazy/<name>.js`)
 * that is read and compiled when the app first requires it, not as the instance starts: V8
 * compiles the whole of a file it loads, and in one 5.8 MB file that was ~300 ms of every
 * cold start. `specifiers` are the imports the main bundle (and the other chunks) resolve to the chunk: a package's
 * name, or a file of the repository by its path (whichever file imports it, by whatever relative path).
 */
const LAZY_CHUNKS: Chunk[] = [
  {
    // A miss's synthesis. The adapter's deep import must be the SDK's own class, so it comes
    // from the same chunk.
    name: 'speech-sdk',
    specifiers: [
      'microsoft-cognitiveservices-speech-sdk',
      'microsoft-cognitiveservices-speech-sdk/distrib/lib/src/common.browser/WebsocketMessageAdapter.js',
    ],
    entry: [
      "export * from 'microsoft-cognitiveservices-speech-sdk';",
      "export { WebsocketMessageAdapter } from 'microsoft-cognitiveservices-speech-sdk/distrib/lib/src/common.browser/WebsocketMessageAdapter.js';",
    ].join('\n'),
  },
  {
    // Prisma's client runtime, its generated client and its driver adapter (~0.3 MB, ~30 ms to load): needed by the
    // first statement that goes through Prisma (a hit-count flush, the cleanup, stats), never by a HIT or a miss,
    // whose statements go straight to the pool (Database in src/adapters/postgres/prisma-client.ts).
    name: 'prisma',
    specifiers: ['src/adapters/postgres/prisma-runtime.ts'],
    entry: "export * from './src/adapters/postgres/prisma-runtime.ts';",
  },
  {
    // Prisma's query compiler (WebAssembly): needed at the first Prisma statement, which comes after the
    // instance listens. The WebAssembly is shipped as a binary file beside the chunk
    // (QUERY_COMPILER_WASM), not as Prisma's 2.3 MB JavaScript module holding it in base64:
    // V8 took 60-90 ms to load that module, reading the file takes about 1 ms. The generated
    // client still receives base64, which it decodes (under 1 ms each way).
    name: 'query-compiler',
    specifiers: [QUERY_COMPILER_BASE64],
    entry: `import { readFileSync } from 'node:fs';\nexport const wasm = readFileSync(\`\${__dirname}/${QUERY_COMPILER_WASM}\`).toString('base64');`,
  },
  // The duration of a synthesized MP3.
  { name: 'music-metadata', specifiers: ['music-metadata'], entry: "export * from 'music-metadata';" },
  // Blob Storage through a managed identity (none with a connection string).
  { name: 'identity', specifiers: ['@azure/identity'], entry: "export * from '@azure/identity';" },
  // The Blob SDK's Arrow listing format, which this app never asks for.
  { name: 'apache-arrow', specifiers: ['apache-arrow'], entry: "export * from 'apache-arrow';" },
  {
    // Application Insights metrics, when configured.
    name: 'telemetry',
    specifiers: ['@azure/monitor-opentelemetry-exporter', '@opentelemetry/sdk-metrics', '@opentelemetry/resources'],
    entry: [
      "export { AzureMonitorMetricExporter } from '@azure/monitor-opentelemetry-exporter';",
      "export { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';",
      "export { resourceFromAttributes } from '@opentelemetry/resources';",
    ].join('\n'),
  },
];

/**
 * Modules the main bundle and a lazy chunk both use, in a file of their own (`dist/shared/<name>.js`) that main loads
 * at start: one copy, so that the chunk's `instanceof` and the main bundle's objects agree (Prisma's driver adapter
 * takes the app's pool only if it is a `pg.Pool` of the same module; Prisma's runtime takes a statement built with
 * the app's `sql` only if it is the same `Sql` class). CommonJS entries: the module as its own package exports it.
 */
const SHARED_CHUNKS: Chunk[] = [
  { name: 'pg', specifiers: ['pg'], entry: "module.exports = require('pg');" },
  {
    name: 'prisma-sql',
    specifiers: ['@prisma/client-runtime-utils'],
    entry: "module.exports = require('@prisma/client-runtime-utils');",
  },
];

interface Chunk {
  name: string;
  specifiers: string[];
  entry: string;
}

/** How every bundle of the package is built (and the cold-start bench's floor app, alike). */
export const BUNDLE_OPTIONS = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  external: [...HOST_PROVIDED, ...DEVELOPMENT_ONLY, ...OPTIONAL],
  // Smaller to read and parse on every cold start; names kept for stack traces in the logs.
  minify: true,
  keepNames: true,
  legalComments: 'linked',
  logLevel: 'warning',
  metafile: true,
  // import() as require(): a chunk loaded through Node's ESM loader was scanned again by its
  // CommonJS lexer (~30 ms for the query compiler's 2.3 MB).
  supported: { 'dynamic-import': false },
} satisfies BuildOptions;

export interface PackageResult {
  dir: string;
  zip: string;
  files: { path: string; bytes: number }[];
  /** Every installed package the bundle and its chunks hold (node_modules paths), with its bytes there. */
  packages: Record<string, number>;
  unpackedBytes: number;
  zipBytes: number;
}

export async function packageApp(root: string = projectRoot()): Promise<PackageResult> {
  const outDir = path.join(root, '.deploy');
  const appDir = path.join(outDir, 'app');
  await rm(appDir, { recursive: true, force: true });
  await mkdir(path.join(appDir, 'dist'), { recursive: true });

  // One module that loads every trigger file (each registers its function) and hands the
  // local host what it needs: the definitions, closing the services, the settings' parser.
  const triggers = (await readdir(path.join(root, 'src/functions'))).filter((f) => f.endsWith('.ts')).sort();
  const entry = [
    ...triggers.map((file) => `export * from './src/functions/${file}';`),
    "export { closeWorkerServices, startWorkerServices } from './src/app/worker-app.ts';",
    "export { parseConfig } from './src/config.ts';",
  ].join('\n');
  const pkg = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as {
    name: string;
    version: string;
    engines?: unknown;
  };
  const chunkOf = new Map(
    [
      ...LAZY_CHUNKS.map((chunk) => ({ ...chunk, dir: 'lazy' })),
      ...SHARED_CHUNKS.map((c) => ({ ...c, dir: 'shared' })),
    ].flatMap((chunk) => chunk.specifiers.map((specifier) => [specifier, chunk] as const)),
  );
  // The imports of a chunk resolved to that chunk's file, from the main bundle (dist/) or from a chunk (dist/<dir>/);
  // a chunk's own imports of what it holds are bundled into it.
  const chunks = (from: 'main' | Chunk): Plugin => ({
    name: 'chunks',
    setup(build) {
      build.onResolve({ filter: /.*/ }, ({ path: specifier, kind, resolveDir }) => {
        const named = specifier.startsWith('.')
          ? path.relative(root, path.resolve(resolveDir, specifier)).split(path.sep).join('/')
          : specifier;
        const chunk = chunkOf.get(named);
        const own = from !== 'main' && chunk?.specifiers === from.specifiers;
        if (!chunk || kind === 'entry-point' || own) return undefined;
        return { path: `${from === 'main' ? '.' : '..'}/${chunk.dir}/${chunk.name}.js`, external: true };
      });
    },
  });
  const packages: Record<string, number> = {};
  const count = ({ metafile }: { metafile: Metafile }) => {
    for (const output of Object.values(metafile.outputs)) {
      for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
        const installed = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input)?.[1];
        if (installed) packages[installed] = (packages[installed] ?? 0) + bytesInOutput;
      }
    }
  };
  count(
    await build({
      ...BUNDLE_OPTIONS,
      stdin: { contents: entry, resolveDir: root, sourcefile: 'app.ts', loader: 'ts' },
      outfile: path.join(appDir, 'dist/main.js'),
      plugins: [chunks('main')],
    }),
  );
  for (const [dir, list] of [
    ['lazy', LAZY_CHUNKS],
    ['shared', SHARED_CHUNKS],
  ] as const) {
    for (const chunk of list) {
      count(
        await build({
          ...BUNDLE_OPTIONS,
          stdin: { contents: chunk.entry, resolveDir: root, sourcefile: `${chunk.name}.ts`, loader: 'ts' },
          outfile: path.join(appDir, `dist/${dir}/${chunk.name}.js`),
          plugins: [chunks(chunk)],
        }),
      );
    }
  }
  // From the same installation esbuild bundled the client from.
  const fromRoot = createRequire(path.join(root, 'package.json'));
  const queryCompiler = Buffer.from((fromRoot(QUERY_COMPILER_BASE64) as { wasm: string }).wasm, 'base64');
  await writeFile(path.join(appDir, 'dist/lazy', QUERY_COMPILER_WASM), queryCompiler);
  packages['node_modules/@prisma/client'] = (packages['node_modules/@prisma/client'] ?? 0) + queryCompiler.length;
  // Beside the package, not in it: what each installed package weighs in the deployment.
  await writeFile(path.join(outDir, 'packages.json'), `${JSON.stringify(packages, null, 2)}\n`);
  await writeFile(
    path.join(appDir, 'package.json'),
    `${JSON.stringify({ name: pkg.name, version: pkg.version, private: true, description: 'Deployment package (npm run package): the bundled functions.', main: 'dist/main.js', engines: pkg.engines }, null, 2)}\n`,
  );
  await writeFile(path.join(appDir, 'host.json'), await readFile(path.join(root, 'host.json')));

  const files = await listFiles(appDir);
  const zippable: Zippable = {};
  for (const file of files) zippable[file.path] = await readFile(path.join(appDir, file.path));
  const zip = path.join(outDir, 'app.zip');
  // mtime fixed: the same commit gives the same zip.
  await writeFile(zip, zipSync(zippable, { level: 9, mtime: new Date('2026-01-01T00:00:00Z') }));
  return {
    dir: appDir,
    zip,
    files,
    packages,
    unpackedBytes: files.reduce((n, f) => n + f.bytes, 0),
    zipBytes: (await stat(zip)).size,
  };
}

async function listFiles(dir: string, prefix = ''): Promise<{ path: string; bytes: number }[]> {
  const out: { path: string; bytes: number }[] = [];
  for (const entry of (await readdir(path.join(dir, prefix), { withFileTypes: true })).sort((a, b) =>
    a.name.localeCompare(b.name),
  )) {
    const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await listFiles(dir, relative)));
    else out.push({ path: relative, bytes: (await stat(path.join(dir, relative))).size });
  }
  return out;
}

if (require.main === module) {
  packageApp().then(
    (result) => {
      const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
      for (const file of result.files) console.log(`  ${file.path.padEnd(28)} ${mb(file.bytes)}`);
      console.log(
        `${path.relative(process.cwd(), result.zip)}: ${mb(result.zipBytes)} (${mb(result.unpackedBytes)} unpacked, ${result.files.length} files)`,
      );
    },
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : String(error));
      process.exit(1);
    },
  );
}
