import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from './embedded-postgres.ts';

/** A Postgres server this process may create and drop databases on. */
export interface PostgresServer {
  /** A URL on the server's maintenance database, for CREATE/DROP DATABASE. */
  adminUrl: string;
  urlFor(database: string): string;
  /** Stops what this process started (an embedded server); leaves an external one running. */
  stop(): Promise<void>;
}

/**
 * The server named by `databaseUrl` when there is one (its own database is left alone; the
 * caller creates and drops others beside it), else a throw-away embedded PostgreSQL.
 */
export async function openPostgresServer(
  databaseUrl: string | undefined,
  options: { onLog?: (line: string) => void } = {},
): Promise<PostgresServer> {
  if (databaseUrl) {
    const urlFor = (database: string) => {
      const url = new URL(databaseUrl);
      url.pathname = `/${encodeURIComponent(database)}`;
      return url.toString();
    };
    return { adminUrl: databaseUrl, urlFor, stop: async () => {} };
  }
  await removeAbandonedClusters();
  const root = await mkdtemp(path.join(os.tmpdir(), TEMP_PREFIX));
  try {
    const server = await startEmbeddedPostgres({
      dataDir: path.join(root, 'data'),
      persistent: false,
      durable: false,
      onLog: options.onLog,
    });
    return {
      adminUrl: server.adminUrl,
      urlFor: (database: string) => server.urlFor(database),
      async stop() {
        await server.stop();
        await rm(root, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(root, { recursive: true, force: true });
    throw error;
  }
}

const TEMP_PREFIX = 'khipu-pg-';
const ABANDONED_AFTER_MS = 10 * 60_000;

/**
 * Throw-away clusters of runs that were interrupted before their teardown (Ctrl-C, a killed
 * runner) leave their folder behind; their server was told to stop on exit. Remove those whose
 * server is gone. Young folders are left alone: another run may be starting in one right now.
 */
async function removeAbandonedClusters(): Promise<void> {
  const entries = await readdir(os.tmpdir()).catch(() => [] as string[]);
  for (const name of entries.filter((entry) => entry.startsWith(TEMP_PREFIX))) {
    const folder = path.join(os.tmpdir(), name);
    const info = await stat(folder).catch(() => undefined);
    if (!info?.isDirectory() || Date.now() - info.mtimeMs < ABANDONED_AFTER_MS) continue;
    const pidFile = await readFile(path.join(folder, 'data', 'postmaster.pid'), 'utf8').catch(() => '');
    const pid = Number(pidFile.split('\n')[0]);
    if (pid > 0 && isAlive(pid)) continue;
    await rm(folder, { recursive: true, force: true });
  }
}

/** Whether a process `pid` exists (EPERM: it does, as another user). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * Creates the database `url` names when its server has none by that name, as `prisma migrate
 * dev` does (through the server's `postgres` database, with the same credentials). Resolves
 * whether it created it; a server that does not answer, or refuses, rejects as pg does.
 */
export async function ensureDatabaseExists(url: string): Promise<boolean> {
  try {
    await withPgClient(url, () => Promise.resolve(undefined));
    return false;
  } catch (error) {
    if ((error as { code?: string }).code !== '3D000') throw error; // 3D000: no such database
  }
  const maintenance = new URL(url);
  const name = decodeURIComponent(maintenance.pathname.slice(1));
  maintenance.pathname = '/postgres';
  try {
    await withPgClient(maintenance.toString(), (client) => client.query(`CREATE DATABASE ${quoteIdentifier(name)}`));
    return true;
  } catch (error) {
    if ((error as { code?: string }).code === '42P04') return false; // created by someone else meanwhile
    throw error;
  }
}

/** Whether `error` says no PostgreSQL server answered at all (as opposed to one refusing us). */
export function isUnreachable(error: unknown): boolean {
  const code = (error as { code?: string } | undefined)?.code;
  return (
    code === 'ECONNREFUSED' ||
    code === 'ENOTFOUND' ||
    code === 'ETIMEDOUT' ||
    code === 'EHOSTUNREACH' ||
    code === 'EAI_AGAIN'
  );
}

/** Runs `work` with one short-lived connection. */
export async function withPgClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}
