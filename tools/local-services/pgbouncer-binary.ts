import { execFile } from 'node:child_process';
import { access, constants, mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { projectRoot } from '../project-root.ts';

const run = promisify(execFile);

export type PgBouncerBinary = { available: true; path: string; version: string } | { available: false; reason: string };

/** Where Debian's package is unpacked: inside node_modules, so a clean clone fetches it again and git never sees it. */
export function pgbouncerCacheDir(): string {
  return path.join(projectRoot(), 'node_modules', '.cache', 'khipu-pgbouncer');
}

const SYSTEM_BINARY = '/usr/sbin/pgbouncer';
const UNPACKED_BINARY = path.join('usr', 'sbin', 'pgbouncer');
let found: Promise<PgBouncerBinary> | undefined;

/**
 * A PgBouncer binary that runs, looked for in this order: `PGBOUNCER_BIN`; `pgbouncer` on the
 * PATH or in /usr/sbin; Debian's package unpacked under node_modules/.cache by an earlier run;
 * else that package fetched now (`apt-get download`, no system-wide install: CI machines start
 * clean and a developer's machine is left alone) and unpacked there. Looked up once per process.
 */
export function findPgBouncer(): Promise<PgBouncerBinary> {
  found ??= lookUp();
  return found;
}

async function lookUp(): Promise<PgBouncerBinary> {
  const named = process.env.PGBOUNCER_BIN;
  if (named) return (await versionOf(named)) ?? { available: false, reason: `PGBOUNCER_BIN=${named} does not run` };
  for (const candidate of [...onPath('pgbouncer'), SYSTEM_BINARY, path.join(pgbouncerCacheDir(), UNPACKED_BINARY)]) {
    const binary = await versionOf(candidate);
    if (binary) return binary;
  }
  try {
    return (
      (await versionOf(await fetchDebianPackage())) ?? { available: false, reason: 'the unpacked binary does not run' }
    );
  } catch (error) {
    return { available: false, reason: `could not fetch Debian's pgbouncer package: ${(error as Error).message}` };
  }
}

function onPath(name: string): string[] {
  return (process.env.PATH ?? '')
    .split(path.delimiter)
    .filter(Boolean)
    .map((dir) => path.join(dir, name));
}

/** The binary with its version when it exists and answers `--version`, else undefined. */
async function versionOf(binary: string): Promise<PgBouncerBinary | undefined> {
  try {
    await access(binary, constants.X_OK);
    const { stdout } = await run(binary, ['--version'], { timeout: 10_000 });
    const version = /PgBouncer (\S+)/.exec(stdout)?.[1];
    return version ? { available: true, path: binary, version } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `apt-get download pgbouncer` (any user may run it) and `dpkg-deb -x` into a fresh folder, then
 * one rename into place, so two runs fetching at once never see a half-unpacked tree. Missing
 * package lists are fetched once with `apt-get update`, which only root may run.
 */
async function fetchDebianPackage(): Promise<string> {
  const cache = pgbouncerCacheDir();
  await mkdir(cache, { recursive: true });
  const work = await mkdtemp(path.join(cache, 'fetch-'));
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const download = () => run('apt-get', ['download', '-qq', 'pgbouncer'], { cwd: work, env, timeout: 120_000 });
    await download().catch(async (error: unknown) => {
      if (process.getuid?.() !== 0) throw error;
      await run('apt-get', ['update', '-qq'], { env, timeout: 180_000 });
      await download();
    });
    const deb = (await readdir(work)).find((name) => name.startsWith('pgbouncer_') && name.endsWith('.deb'));
    if (!deb) throw new Error('apt-get download left no pgbouncer_*.deb');
    await run('dpkg-deb', ['-x', path.join(work, deb), path.join(work, 'root')], { timeout: 60_000 });
    await putInPlace(path.join(work, 'root', 'usr'), path.join(cache, 'usr'));
    return path.join(cache, UNPACKED_BINARY);
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new Error(stderr ? `${(error as Error).message.split('\n')[0]}: ${stderr}` : (error as Error).message, {
      cause: error,
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Moves the unpacked tree into place, unless another run's working copy is there already; a broken one is replaced. */
async function putInPlace(unpacked: string, target: string): Promise<void> {
  try {
    await rename(unpacked, target);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
    if (await versionOf(path.join(path.dirname(target), UNPACKED_BINARY))) return;
    await rm(target, { recursive: true, force: true });
    await rename(unpacked, target);
  }
}
