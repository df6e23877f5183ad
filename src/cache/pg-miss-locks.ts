import pg from 'pg';
import type { MissLocks } from './miss-locks.ts';

/**
 * MissLocks as Postgres transaction-level advisory locks, each held on a connection of its
 * own for as long as its synthesis runs. A holder that crashes or loses its connection lets
 * go at once (Postgres ends its transaction); one that hangs lets go when its synthesis times
 * out. The pool is separate from Prisma's, so holders never starve the request path.
 */
export class PgMissLocks implements MissLocks {
  #pool: pg.Pool | undefined;

  constructor(
    private readonly databaseUrl: string,
    private readonly maxHolders: number,
  ) {}

  async tryLock(cacheKey: string): Promise<(() => Promise<void>) | undefined> {
    this.#pool ??= this.#createPool();
    const client = await this.#pool.connect();
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<{ locked: boolean }>(
        "SELECT pg_try_advisory_xact_lock(hashtextextended('khipu:audition:' || $1, 0)) AS locked",
        [cacheKey],
      );
      if (!rows[0]?.locked) {
        await client.query('ROLLBACK');
        client.release();
        return undefined;
      }
    } catch (error) {
      client.release(error as Error);
      throw error;
    }
    let released = false;
    return async () => {
      if (released) return;
      released = true;
      try {
        await client.query('COMMIT');
        client.release();
      } catch (error) {
        client.release(error as Error); // a broken connection is discarded, and its lock with it
      }
    };
  }

  async close(): Promise<void> {
    await this.#pool?.end();
    this.#pool = undefined;
  }

  #createPool(): pg.Pool {
    const pool = new pg.Pool({
      connectionString: this.databaseUrl,
      max: this.maxHolders,
      idleTimeoutMillis: 10_000,
      connectionTimeoutMillis: 5_000,
    });
    pool.on('error', () => {}); // an idle connection dropped by the server is not a crash
    return pool;
  }
}
