// What `npm run bench:scale` samples while it runs: the server's backends (pg_stat_activity),
// PgBouncer's pools (SHOW POOLS) and the hosts' memory (VmRSS in /proc/<pid>/status).
import { readFileSync } from 'node:fs';
import os from 'node:os';
import pg from 'pg';
import { sumClients, sumServers, type PoolRow } from '../local-services/pgbouncer.ts';

export const MIB = 2 ** 20;

/** Resident memory of a process in bytes (0 once it is gone). */
export function rssOf(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export const rssSum = (pids: (number | undefined)[]) => pids.reduce<number>((sum, pid) => sum + rssOf(pid), 0);

export interface Peaks {
  /** Client backends of the app's role (the sampler, another role, left out). */
  roleBackends: number;
  /** Every client backend on the server but the sampler's own: what counts against max_connections. */
  allBackends: number;
  /** PgBouncer's server connections (every state), when there is a PgBouncer. */
  poolerServers: number;
  /** PgBouncer's client connections (active + waiting). */
  poolerClients: number;
  /** Clients waiting for a server connection at once. */
  poolerWaiting: number;
  /** The hosts' summed VmRSS, sampled every second. */
  rssBytes: number;
  /** The lowest os.freemem() seen. */
  minFreeBytes: number;
  samples: number;
}

const emptyPeaks = (): Peaks => ({
  roleBackends: 0,
  allBackends: 0,
  poolerServers: 0,
  poolerClients: 0,
  poolerWaiting: 0,
  rssBytes: 0,
  minFreeBytes: Infinity,
  samples: 0,
});

/** A client that reconnects after any failure; `undefined` while it cannot. */
function resilientClient(url: string) {
  let client: pg.Client | undefined;
  return {
    async query<T extends pg.QueryResultRow>(sql: string, values?: unknown[]): Promise<T[] | undefined> {
      try {
        if (!client) {
          const next = new pg.Client({ connectionString: url });
          next.on('error', () => {});
          await next.connect();
          client = next;
        }
        return (await client.query<T>(sql, values)).rows;
      } catch {
        await client?.end().catch(() => {});
        client = undefined;
        return undefined;
      }
    },
    async end() {
      await client?.end().catch(() => {});
    },
  };
}

/**
 * Samples every `intervalMs`: the server's backends over one direct connection, PgBouncer's
 * pools over one admin-console connection (kept open: a login per sample would cost CPU), and
 * every second the hosts' RSS and the machine's free memory.
 */
export function watchConnections(options: {
  adminUrl: string;
  role: string;
  poolerAdminUrl?: string;
  pids: () => (number | undefined)[];
  intervalMs?: number;
}) {
  let peaks = emptyPeaks();
  let running = true;
  const server = resilientClient(options.adminUrl);
  const pooler = options.poolerAdminUrl ? resilientClient(options.poolerAdminUrl) : undefined;
  let lastRss = 0;
  const loop = (async () => {
    while (running) {
      const [backends, pools] = await Promise.all([
        server.query<{ role: number; all: number }>(
          `SELECT count(*) FILTER (WHERE usename = $1)::int AS role, count(*)::int AS all
             FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()`,
          [options.role],
        ),
        pooler?.query<PoolRow>('SHOW POOLS'),
      ]);
      if (backends?.[0]) {
        peaks.roleBackends = Math.max(peaks.roleBackends, backends[0].role);
        peaks.allBackends = Math.max(peaks.allBackends, backends[0].all);
      }
      if (pools) {
        const rows = pools.filter((row) => row.database !== 'pgbouncer');
        const clients = sumClients(rows);
        peaks.poolerServers = Math.max(peaks.poolerServers, sumServers(rows).total);
        peaks.poolerClients = Math.max(peaks.poolerClients, clients.total);
        peaks.poolerWaiting = Math.max(peaks.poolerWaiting, clients.waiting);
      }
      if (performance.now() - lastRss >= 1_000) {
        lastRss = performance.now();
        peaks.rssBytes = Math.max(peaks.rssBytes, rssSum(options.pids()));
        peaks.minFreeBytes = Math.min(peaks.minFreeBytes, os.freemem());
      }
      peaks.samples++;
      await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 50));
    }
    await Promise.all([server.end(), pooler?.end()]);
  })();
  return {
    /** The peaks since the last call. */
    takePeaks(): Peaks {
      const value = peaks;
      peaks = emptyPeaks();
      return value;
    },
    async stop() {
      running = false;
      await loop;
    },
  };
}
