import { mkdtemp, rm } from 'node:fs/promises';
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
  const root = await mkdtemp(path.join(os.tmpdir(), 'khipu-pg-'));
  try {
    const server = await startEmbeddedPostgres({
      dataDir: path.join(root, 'data'),
      persistent: false,
      durable: false,
      onLog: options.onLog,
    });
    return {
      adminUrl: server.adminUrl,
      urlFor: server.urlFor,
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

export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
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
