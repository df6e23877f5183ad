import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import { BUNDLE_OPTIONS } from '../package.ts';
import { projectRoot } from '../project-root.ts';

/**
 * A bench's stand-in app (tools/bench/<name>.ts), bundled as the deployment package is, in a
 * temporary folder with the app's host.json: serve it with `--app <bundle>`.
 */
export async function buildBenchApp(name: string): Promise<{ bundle: string; dispose: () => Promise<void> }> {
  const root = projectRoot();
  const dir = await mkdtemp(path.join(os.tmpdir(), `khipu-${name}-`));
  await build({
    ...BUNDLE_OPTIONS,
    entryPoints: [path.join(root, 'tools/bench', `${name}.ts`)],
    outfile: path.join(dir, 'dist/main.js'),
  });
  await copyFile(path.join(root, 'host.json'), path.join(dir, 'host.json'));
  return { bundle: path.join(dir, 'dist/main.js'), dispose: () => rm(dir, { recursive: true, force: true }) };
}
