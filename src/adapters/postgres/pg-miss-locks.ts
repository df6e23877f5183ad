import pg from 'pg';
import type { MissLocks } from '../../ports/miss-locks.ts';

/**
 * MissLocks as Postgres transaction-level advisory locks, each held on a connection of its
 * own for as long as its synthesis runs. A holder that crashes or loses its connection lets
 * go at once (Postgres ends its transaction); one that hangs lets go when its synthesis times
 * out. The pool is separate from Prisma's, so holders never starve the request path.
 */
export class PgMissLocks implements MissLocks {
  #pool: pg.Pool | undefined;
  /** The unlock of every lock held now: close() lets them go (the pool's end() would wait for them). */
  readonly #held = new Set<() => Promise<void>>();

  constructor(
    private readonly databaseUrl: string,
    private readonly maxHolders: number,
  ) {}

  async tryLock(cacheKey: string): Promise<(() => Promise<void>) | undefined> {
    this.#pool ??= this.#createPool();
    const client = await this.#pool.connect();
    // A connection lost while held (server restart, failover) fails its next query, which is
    // handled below; its 'error' event must not become an uncaught exception.
    const ignore = () => {};
    client.on('error', ignore);
    const giveBack = (error?: Error) => {
      client.removeListener('error', ignore);
      client.release(error);
    };
    try {
      // One round trip: BEGIN and the lock in one simple query. The key is inlined, so it must
      // be what the service makes (sha256 hex); anything else is refused, not quoted.
      if (!/^[0-9a-f]{64}$/.test(cacheKey)) throw new Error('A miss lock key must be a sha256 hex digest');
      const results = (await client.query(
        `BEGIN; SELECT pg_try_advisory_xact_lock(hashtextextended('khipu:audition:${cacheKey}', 0)) AS locked`,
      )) as unknown as pg.QueryResult<{ locked: boolean }>[];
      if (!results[1]?.rows[0]?.locked) {
        await client.query('ROLLBACK');
        giveBack();
        return undefined;
      }
    } catch (error) {
      giveBack(error as Error);
      throw error;
    }
    let released = false;
    const unlock = async () => {
      if (released) return;
      released = true;
      this.#held.delete(unlock);
      try {
        await client.query('COMMIT');
        giveBack();
      } catch (error) {
        giveBack(error as Error); // a broken connection is discarded, and its lock with it
      }
    };
    this.#held.add(unlock);
    return unlock;
  }

  async close(): Promise<void> {
    const pool = this.#pool;
    this.#pool = undefined;
    await Promise.all([...this.#held].map((unlock) => unlock()));
    await pool?.end();
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
