import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { testDb } from '../support/required-deps.ts';
import { startPgBouncer, type RunningPgBouncer } from '../../tools/local-services/pgbouncer.ts';
import { withPgClient } from '../../tools/local-services/postgres-server.ts';
import { createTestDatabase, hasPgBouncer, type TestDatabase } from '../support/test-database.ts';

// A real PgBouncer (tools/local-services/pgbouncer.ts) in transaction pooling mode, as the
// global setup starts it in front of the test Postgres, and what that mode does to a session:
// why the app must not rely on session state (SET, advisory locks) behind such a pooler.

const available = hasPgBouncer();
if (!available) console.log('test/tools/pgbouncer.test.ts: skipped: this run has no PgBouncer');

const one = async <T extends pg.QueryResultRow>(client: pg.Client, sql: string, values?: unknown[]) =>
  (await client.query<T>(sql, values)).rows[0]!;

describe.runIf(available)('PgBouncer in front of the test Postgres', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(() => database?.drop());

  it('lets a plain node-postgres client in with the server URL’s user and password, to any database', async () => {
    const client = new pg.Client({ connectionString: database.pooledUrl() });
    await client.connect();
    try {
      expect(
        await one(client, 'SELECT current_database() AS db, current_user AS who, $1::int + 1 AS sum', [41]),
      ).toEqual({ db: database.name, who: 'postgres', sum: 42 });
    } finally {
      await client.end();
    }
    const pools = await withPgClient(inject('pgbouncerAdminUrl'), (admin) => admin.query('SHOW POOLS'));
    expect(pools.rows).toContainEqual(expect.objectContaining({ database: database.name, pool_mode: 'transaction' }));
  });

  it('serves the project’s Prisma client: queries with parameters and an interactive transaction', async () => {
    const db = testDb(database.pooledUrl());
    const prisma = await db.client();
    try {
      const tenant = await prisma.tenant.create({ data: { name: 'Pooled', subdomain: 'pooled' } });
      const found = await prisma.$transaction(async (tx) => {
        await tx.tenant.update({ where: { id: tenant.id }, data: { name: 'Pooled, renamed' } });
        return tx.tenant.findUniqueOrThrow({ where: { subdomain: 'pooled' } });
      });
      expect(found.name).toBe('Pooled, renamed');
      const counts = await Promise.all(
        Array.from({ length: 20 }, () => prisma.tenant.count({ where: { id: tenant.id } })),
      );
      expect(counts).toEqual(Array(20).fill(1));
    } finally {
      await db.close();
    }
  });

  describe('with one server connection in transaction mode', () => {
    let pooler: RunningPgBouncer;
    let direct: pg.Client;
    const clients: pg.Client[] = [];
    const connect = async () => {
      const client = new pg.Client({ connectionString: pooler.urlFor(database.name) });
      await client.connect();
      clients.push(client);
      return client;
    };
    beforeAll(async () => {
      pooler = await startPgBouncer({ serverUrl: inject('postgresAdminUrl'), defaultPoolSize: 1 });
      direct = new pg.Client({ connectionString: database.url });
      await direct.connect();
    });
    afterAll(async () => {
      await Promise.all([direct, ...clients].map((client) => client?.end().catch(() => {})));
      await pooler?.stop();
    });

    it('gives two clients the same server backend, and holds it for a whole transaction', async () => {
      const [a, b] = [await connect(), await connect()];
      const pidOf = async (client: pg.Client) => (await one(client, 'SELECT pg_backend_pid() AS pid')).pid as number;
      expect(await pidOf(a)).toBe(await pidOf(b));
      expect(await pooler.serverConnections(database.name)).toMatchObject({ total: 1 });

      await a.query('BEGIN');
      let answered = false;
      const waiting = pidOf(b).then((pid) => ((answered = true), pid));
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(answered).toBe(false); // b waits for the one server connection a's transaction holds
      expect(await pooler.clientConnections(database.name)).toMatchObject({ waiting: 1 });
      await a.query('COMMIT');
      expect(await waiting).toBe(await pidOf(a));
    });

    it('leaks a session SET to the next client, while SET LOCAL stays inside its transaction', async () => {
      const [a, b] = [await connect(), await connect()];
      await a.query("SET khipu.marker = 'set by a'");
      expect(await one(b, "SELECT current_setting('khipu.marker', true) AS value")).toEqual({ value: 'set by a' });

      await a.query('BEGIN');
      await a.query("SET LOCAL khipu.local = 'inside'");
      expect(await one(a, "SELECT current_setting('khipu.local') AS value")).toEqual({ value: 'inside' });
      await a.query('COMMIT');
      expect(await one(b, "SELECT coalesce(current_setting('khipu.local', true), '') AS value")).toEqual({ value: '' });
    });

    it('breaks session advisory locks: another client holds the lock one took, and can release it', async () => {
      const [a, b] = [await connect(), await connect()];
      const tryLock = async (client: pg.Client) => (await one(client, 'SELECT pg_try_advisory_lock(1) AS ok')).ok;
      const unlock = async (client: pg.Client) => (await one(client, 'SELECT pg_advisory_unlock(1) AS ok')).ok;
      expect(await tryLock(a)).toBe(true);
      expect(await tryLock(direct)).toBe(false); // a real other session is refused…
      expect(await tryLock(b)).toBe(true); // …but b is on a's server session, which already holds it
      expect([await unlock(b), await unlock(b)]).toEqual([true, true]); // b releases a's lock too
      expect(await tryLock(direct)).toBe(true);
      expect(await unlock(direct)).toBe(true);
    });
  });

  it('keeps server connections within default_pool_size under a burst of 50 clients', async () => {
    // A database of its own: the run's pooler keeps idle server connections to the one above.
    const burst = await createTestDatabase('empty');
    const poolSize = 10;
    const pooler = await startPgBouncer({ serverUrl: inject('postgresAdminUrl'), defaultPoolSize: poolSize });
    const peak = { servers: 0, clients: 0, backends: 0 };
    let bursting = true;
    const sample = async () => {
      while (bursting) {
        const [servers, clients, backends] = await Promise.all([
          pooler.serverConnections(burst.name),
          pooler.clientConnections(burst.name),
          backendsOf(burst.name),
        ]);
        peak.servers = Math.max(peak.servers, servers.total);
        peak.clients = Math.max(peak.clients, clients.total);
        peak.backends = Math.max(peak.backends, backends);
      }
    };
    const sampling = sample();
    try {
      const answers = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          withPgClient(pooler.urlFor(burst.name), (client) => one(client, 'SELECT $1::int AS i, pg_sleep(0.2)', [i])),
        ),
      );
      bursting = false;
      await sampling;
      console.log(`50 clients through PgBouncer (pool ${poolSize}): peak ${JSON.stringify(peak)}`);
      expect(answers.map((row) => row.i)).toEqual(Array.from({ length: 50 }, (_, i) => i));
      expect(peak.clients).toBeGreaterThan(poolSize);
      expect(peak.servers).toBeGreaterThan(1);
      expect(peak.servers).toBeLessThanOrEqual(poolSize);
      expect(peak.backends).toBeLessThanOrEqual(poolSize); // as Postgres itself counts them
    } finally {
      bursting = false;
      await sampling.catch(() => {});
      await pooler.stop();
      await burst.drop();
    }
  });
});

/** Connections to `database` as the server counts them (pg_stat_activity). */
async function backendsOf(database: string): Promise<number> {
  const { rows } = await withPgClient(inject('postgresAdminUrl'), (client) =>
    client.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [database]),
  );
  return rows[0]!.n;
}
