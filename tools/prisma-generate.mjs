// `prisma generate`, runnable offline.
//
// Every Prisma CLI command first makes sure it has a native schema-engine binary and downloads
// one from outside the npm registry when it has none, which fails on machines that reach only
// npm. `generate` never runs that engine, so any existing executable satisfies the check;
// we name Node itself. A binary the caller chose (PRISMA_SCHEMA_ENGINE_BINARY) is respected.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const cli = require.resolve('prisma/build/index.js');
const env = { ...process.env, PRISMA_HIDE_UPDATE_MESSAGE: '1' };
env.PRISMA_SCHEMA_ENGINE_BINARY ??= process.execPath;

const result = spawnSync(process.execPath, [cli, 'generate', ...process.argv.slice(2)], {
  stdio: 'inherit',
  env,
});
process.exit(result.status ?? 1);
