import { expect, vi } from 'vitest';
import { withPgClient } from '../../tools/local-services/postgres-server.ts';
import { startTcpProxy, type ProxiedConnection, type TcpProxy } from '../../tools/local-services/tcp-proxy.ts';

// Faults of one Postgres session, each made to happen in one chosen order: a client reaches
// the server through a TcpProxy, so a test decides when news of the server's side reaches it.

/** A proxy in front of the server of `databaseUrl`, and the same URL through it. */
export async function proxyTo(databaseUrl: string): Promise<{ proxy: TcpProxy; url: string }> {
  const url = new URL(databaseUrl);
  const proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port) });
  url.hostname = proxy.host;
  url.port = String(proxy.port);
  return { proxy, url: url.toString() };
}

/** The server process of the session holding the advisory lock named `name` (hashtextextended, as PgLockSession names them). */
export async function advisoryLockHolder(databaseUrl: string, name: string): Promise<number> {
  const { rows } = await withPgClient(databaseUrl, (client) =>
    // A bigint advisory lock shows in pg_locks as its high and low 32 bits.
    client.query<{ pid: number }>(
      `SELECT pid FROM pg_locks
        WHERE locktype = 'advisory' AND granted AND objsubid = 1
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND ((classid::bigint << 32) | objid::bigint) = hashtextextended($1, 0)`,
      [name],
    ),
  );
  expect(rows).toHaveLength(1);
  return rows[0]!.pid;
}

/** Ends the server process `pid` (as a restart or failover does) and waits until it has ended: its locks are free. */
export async function terminateBackend(databaseUrl: string, pid: number): Promise<void> {
  const { rows } = await withPgClient(databaseUrl, (client) =>
    client.query<{ ended: boolean }>('SELECT pg_terminate_backend($1, 5000) AS ended', [pid]),
  );
  expect(rows).toEqual([{ ended: true }]);
}

/** The server processes of the sessions that come through `proxy`. */
export async function proxiedBackends(databaseUrl: string, proxy: TcpProxy): Promise<number[]> {
  const ports = proxy.connections.flatMap((connection) =>
    connection.upstreamLocalPort === undefined ? [] : [connection.upstreamLocalPort],
  );
  const { rows } = await withPgClient(databaseUrl, (client) =>
    client.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND client_port = ANY($1::int[])',
      [ports],
    ),
  );
  return rows.map((row) => row.pid);
}

/** Ends, on the server, every session that comes through `proxy`, and waits until each has ended. */
export async function terminateProxiedBackends(databaseUrl: string, proxy: TcpProxy): Promise<void> {
  for (const pid of await proxiedBackends(databaseUrl, proxy)) await terminateBackend(databaseUrl, pid);
}

/** The proxied connection of the server process `pid`, read afresh on each call. */
export async function proxiedConnectionOf(
  databaseUrl: string,
  proxy: TcpProxy,
  pid: number,
): Promise<() => ProxiedConnection | undefined> {
  const { rows } = await withPgClient(databaseUrl, (client) =>
    client.query<{ port: number }>('SELECT client_port AS port FROM pg_stat_activity WHERE pid = $1', [pid]),
  );
  const port = rows[0]?.port;
  expect(port).toBeTypeOf('number');
  return () => proxy.connections.find((connection) => connection.upstreamLocalPort === port);
}

/** Whether `bytes` end with a whole ReadyForQuery message: the server's answer to a statement is complete. */
function endsWithReadyForQuery(bytes: Buffer): boolean {
  return bytes.length >= 6 && bytes[bytes.length - 6] === 0x5a && bytes.readInt32BE(bytes.length - 5) === 5;
}

/**
 * Makes the client read a statement's answer and the end of its session together, in one
 * read. `send` starts the statement on the session whose server process is `pid` (through
 * `proxy`); its answer is held at the proxy, whole; the server then ends the session, and the
 * end (FATAL 57P01, then the socket's close) is held behind that answer. `deliver` passes
 * both on in one write. Until then, the lock the statement took (if any) is free on the server.
 */
export async function answerWithSessionEnd<T>(
  { databaseUrl, proxy, pid }: { databaseUrl: string; proxy: TcpProxy; pid: number },
  send: () => Promise<T>,
): Promise<{ result: Promise<T>; deliver: () => void }> {
  const connection = await proxiedConnectionOf(databaseUrl, proxy, pid);
  proxy.pause(['toClient']);
  const result = send();
  void result.catch(() => {}); // the caller awaits it, after deliver()
  await vi.waitFor(() => expect(endsWithReadyForQuery(connection()?.held.toClient ?? Buffer.alloc(0))).toBe(true), {
    timeout: 10_000,
  });
  await terminateBackend(databaseUrl, pid);
  await vi.waitFor(() => expect(connection()?.serverEnded).toBe(true), { timeout: 10_000 });
  return { result, deliver: () => proxy.resume(['toClient']) };
}
