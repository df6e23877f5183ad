import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, chown, copyFile, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { unprivilegedUser, type RunAs } from './embedded-postgres.ts';
import { findFreePort } from './free-port.ts';
import { findPgBouncer } from './pgbouncer-binary.ts';
import { isAlive, withPgClient } from './postgres-server.ts';

export interface PgBouncerOptions {
  /** The real server, with the user and password clients log in with (PgBouncer logs in to it with the same). */
  serverUrl: string;
  poolMode?: 'session' | 'transaction' | 'statement';
  /** Server connections per database and user. */
  defaultPoolSize?: number;
  maxClientConn?: number;
  /** Server connections per database, over all its users; unlimited when absent. */
  maxDbConnections?: number;
  onLog?: (line: string) => void;
}

/** Server connections, summed over the pools asked about (SHOW POOLS). */
export interface ServerConnections {
  /** Linked to a client right now (in a transaction, in transaction mode). */
  active: number;
  /** Unused and ready for the next client. */
  idle: number;
  /** Just released, waiting for their check before reuse. */
  used: number;
  /** Every server connection PgBouncer holds, also those being tested or logging in. */
  total: number;
}

export interface ClientConnections {
  /** Linked to a server connection, or idle between transactions. */
  active: number;
  /** Waiting for a server connection. */
  waiting: number;
  total: number;
}

export interface RunningPgBouncer {
  port: number;
  version: string;
  /** A URL through the pooler to `database` on the server, with the server URL's user and password. */
  urlFor(database: string): string;
  /** The admin console (database `pgbouncer`): SHOW POOLS, SHOW STATS, SHOW SERVERS… (simple queries only). */
  adminUrl: string;
  /** Server connections, over every database or only `database`. */
  serverConnections(database?: string): Promise<ServerConnections>;
  /** Client connections (the admin console's own left out), over every database or only `database`. */
  clientConnections(database?: string): Promise<ClientConnections>;
  stop(): Promise<void>;
}

const TEMP_PREFIX = 'khipu-pgbouncer-';
const START_TIMEOUT_MS = 20_000;

/**
 * Starts a real PgBouncer (Debian's build, see pgbouncer-binary.ts) in front of the server of
 * `serverUrl`, on a free loopback port, forwarding any database name to it. As root it runs as
 * `nobody` (PgBouncer refuses to run as root) from a temporary folder that user owns.
 */
export async function startPgBouncer(options: PgBouncerOptions): Promise<RunningPgBouncer> {
  const binary = await findPgBouncer();
  if (!binary.available) throw new Error(`PgBouncer is not available: ${binary.reason}`);
  await removeAbandonedFolders();
  const server = new URL(options.serverUrl);
  const user = decodeURIComponent(server.username);
  const password = decodeURIComponent(server.password);
  const runAs = process.getuid?.() === 0 ? await unprivilegedUser() : undefined;
  const dir = await mkdtemp(path.join(os.tmpdir(), TEMP_PREFIX));
  try {
    const port = await findFreePort();
    const executable = await prepareFolder(dir, binary.path, runAs, {
      'pgbouncer.ini': configFile(options, { dir, port, user, server }),
      // Plain text: PgBouncer 1.18 then does SCRAM with clients and logs in to the server (SCRAM too) with it.
      'userlist.txt': `${quoteAuth(user)} ${quoteAuth(password)}\n`,
    });
    const child = await launch(executable, path.join(dir, 'pgbouncer.ini'), runAs, options.onLog ?? (() => {}));
    const credentials = `${encodeURIComponent(user)}:${encodeURIComponent(password)}`;
    const urlFor = (database: string) =>
      `postgresql://${credentials}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
    const adminUrl = urlFor('pgbouncer');
    return {
      port,
      version: binary.version,
      urlFor,
      adminUrl,
      serverConnections: async (database) => sumServers(await showPools(adminUrl, database)),
      clientConnections: async (database) => sumClients(await showPools(adminUrl, database)),
      async stop() {
        await child.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

interface Placement {
  dir: string;
  port: number;
  user: string;
  server: URL;
}

function configFile(options: PgBouncerOptions, { dir, port, user, server }: Placement): string {
  const host = server.hostname.replace(/^\[(.*)\]$/, '$1'); // an IPv6 literal loses its brackets
  return [
    '[databases]',
    // Any database name is forwarded, as the client's user: tests create many databases.
    `* = host=${host} port=${server.port || '5432'}`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    'unix_socket_dir =',
    'auth_type = scram-sha-256',
    `auth_file = ${path.join(dir, 'userlist.txt')}`,
    `admin_users = ${user}`,
    `stats_users = ${user}`,
    `pool_mode = ${options.poolMode ?? 'transaction'}`,
    `default_pool_size = ${options.defaultPoolSize ?? 10}`,
    `max_client_conn = ${options.maxClientConn ?? 2000}`,
    `max_db_connections = ${options.maxDbConnections ?? 0}`,
    `pidfile = ${path.join(dir, 'pgbouncer.pid')}`,
    // node-postgres sends only user, database, client_encoding and application_name, which
    // PgBouncer handles itself; psql and JDBC add extra_float_digits. `options` is left
    // refused: ignoring it would drop a client's `-c statement_timeout=…` without a word.
    'ignore_startup_parameters = extra_float_digits',
    // One log line per connection costs CPU under a benchmark's thousands of clients.
    'log_connections = 0',
    'log_disconnections = 0',
    '',
  ].join('\n');
}

/** auth_file syntax: "name" "password", a double quote doubled. */
function quoteAuth(value: string): string {
  return `"${value.replaceAll('"', '""')}"`;
}

/**
 * Writes the files into `dir`, readable by the user PgBouncer runs as and nobody else. As
 * root, the binary is copied there too: `nobody` may not be able to reach the project folder.
 */
async function prepareFolder(
  dir: string,
  binary: string,
  runAs: RunAs | undefined,
  files: Record<string, string>,
): Promise<string> {
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text, { mode: 0o600 });
  if (!runAs) return binary;
  const copy = path.join(dir, 'pgbouncer');
  await copyFile(binary, copy);
  await chmod(copy, 0o755);
  for (const name of ['', ...Object.keys(files)]) await chown(path.join(dir, name), runAs.uid, runAs.gid);
  return copy;
}

/** Runs PgBouncer until it listens; the answer stops it. */
async function launch(
  binary: string,
  config: string,
  runAs: RunAs | undefined,
  log: (line: string) => void,
): Promise<{ stop(): Promise<void> }> {
  const { NOTIFY_SOCKET: _systemd, ...env } = process.env; // Debian's build would talk to systemd
  const child = spawn(binary, [config], { ...runAs, env, stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const watchdog = startWatchdog(child);
  const stopOnExit = () => child.kill('SIGTERM');
  process.once('exit', stopOnExit);
  child.once('exit', () => {
    process.removeListener('exit', stopOnExit);
    watchdog.kill('SIGKILL');
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM'); // PgBouncer 1.18: immediate shutdown (SIGINT would wait for clients)
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    await waitUntilListening(child, log);
  } catch (error) {
    child.kill('SIGKILL');
    if (child.pid !== undefined) await exited; // a process that never started never exits
    throw new Error(`PgBouncer did not start: ${(error as Error).message}`, { cause: error });
  }
  return { stop };
}

/**
 * A shell that holds the read end of a pipe from this process and stops PgBouncer when it
 * closes: when this process dies in any way, SIGKILL included, which no exit handler sees.
 */
function startWatchdog(child: ChildProcess): ChildProcess {
  const watchdog = spawn('sh', ['-c', 'read -r _; kill -TERM "$0" 2>/dev/null', String(child.pid)], {
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  watchdog.on('error', () => {}); // without sh, the exit handler alone remains
  watchdog.stdin?.on('error', () => {});
  return watchdog;
}

function waitUntilListening(child: ChildProcess, log: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let recent: string[] = [];
    const timer = setTimeout(() => reject(new Error(`not listening after ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
    readline.createInterface({ input: child.stderr! }).on('line', (line) => {
      log(`[pgbouncer] ${line}`);
      recent = [...recent.slice(-9), line];
      if (/listening on 127\.0\.0\.1:\d+/.test(line)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`exited (code ${code}, signal ${signal}): ${recent.join(' | ')}`));
    });
  });
}

export type PoolRow = Record<string, string | number | null>;

async function showPools(adminUrl: string, database: string | undefined): Promise<PoolRow[]> {
  const { rows } = await withPgClient(adminUrl, (client) => client.query<PoolRow>('SHOW POOLS'));
  // The admin console is a pool of its own (database "pgbouncer"): not a server connection.
  return rows.filter((row) => row.database !== 'pgbouncer' && (database === undefined || row.database === database));
}

const sum = (rows: PoolRow[], column: string) => rows.reduce((total, row) => total + Number(row[column] ?? 0), 0);

export function sumServers(rows: PoolRow[]): ServerConnections {
  const [active, idle, used] = ['sv_active', 'sv_idle', 'sv_used'].map((column) => sum(rows, column)) as [
    number,
    number,
    number,
  ];
  const total = active + idle + used + sum(rows, 'sv_tested') + sum(rows, 'sv_login');
  return { active, idle, used, total };
}

export function sumClients(rows: PoolRow[]): ClientConnections {
  const active = sum(rows, 'cl_active');
  const waiting = sum(rows, 'cl_waiting');
  return { active, waiting, total: active + waiting };
}

/**
 * Folders of runs that died before their teardown (their PgBouncer was stopped by the
 * watchdog). Young folders are left alone: another run may be starting in one right now.
 */
async function removeAbandonedFolders(): Promise<void> {
  const entries = await readdir(os.tmpdir()).catch(() => [] as string[]);
  for (const name of entries.filter((entry) => entry.startsWith(TEMP_PREFIX))) {
    const folder = path.join(os.tmpdir(), name);
    const info = await stat(folder).catch(() => undefined);
    if (!info?.isDirectory() || Date.now() - info.mtimeMs < 10 * 60_000) continue;
    const pid = Number((await readFile(path.join(folder, 'pgbouncer.pid'), 'utf8').catch(() => '')).trim());
    if (pid > 0 && isAlive(pid)) continue;
    await rm(folder, { recursive: true, force: true });
  }
}
