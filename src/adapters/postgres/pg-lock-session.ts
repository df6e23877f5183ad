import pg from 'pg';
import { ConnectRetry, retryIfConnectionLost } from './connect-retry.ts';

/** Released by the caller when its work is done; safe to call more than once. */
export type Unlock = () => Promise<void>;

/**
 * Every Postgres advisory lock of this instance (the miss locks, the cleanup's lock) held as a
 * session-level lock on ONE connection: a thousand misses in flight cost one connection, not
 * one each, and that connection counts in DATABASE_POOL_MAX.
 *
 * - One holder per name inside this instance too: session locks are re-entrant in Postgres, so
 *   the names held here are kept in a set and a second tryLock of one is refused.
 * - If the connection dies (server restart, failover, a terminated backend), Postgres releases
 *   every lock it held; a crashed instance therefore never blocks a key. The next tryLock opens
 *   a new connection; unlocks of the old one's locks do nothing.
 * - Every statement has a timeout: a hung connection makes tryLock fail (the caller fails open)
 *   instead of waiting forever.
 */
export class PgLockSession {
  readonly #databaseUrl: string;
  readonly #queryTimeoutMs: number;
  readonly #connectRetry: ConnectRetry;
  #client: Promise<pg.Client> | undefined;
  /** Bumped whenever the connection is replaced: locks of an older one are gone already. */
  #generation = 0;
  /** Names held (or being taken) in this instance. */
  readonly #held = new Map<string, Unlock>();
  #closed = false;
  /** The last statement sent: one connection runs one statement at a time, so each waits for the one before. */
  #tail: Promise<unknown> = Promise.resolve();

  constructor(databaseUrl: string, options: { queryTimeoutMs?: number; connectRetry?: ConnectRetry } = {}) {
    this.#databaseUrl = databaseUrl;
    this.#queryTimeoutMs = options.queryTimeoutMs ?? 5_000;
    this.#connectRetry = options.connectRetry ?? new ConnectRetry();
  }

  /** The lock named `name` if nobody (here or in any instance) holds it; else undefined. */
  async tryLock(name: string): Promise<Unlock | undefined> {
    if (this.#closed) throw new Error('The lock session is closed');
    if (this.#held.has(name)) return undefined;
    const reserved: Unlock = () => Promise.resolve();
    this.#held.set(name, reserved); // before any await: a concurrent tryLock here is refused
    let taken: { locked: boolean; client: pg.Client; generation: number };
    try {
      // A connection that died under the statement (a restart) took any lock with it: once
      // more, on a new connection (which waits out the restart, within ConnectRetry's bound).
      taken = await retryIfConnectionLost(() => this.#tryOnce(name));
    } catch (error) {
      this.#held.delete(name);
      throw error;
    }
    if (!taken.locked) {
      this.#held.delete(name);
      return undefined;
    }
    const { client, generation } = taken;
    let released = false;
    const unlock: Unlock = async () => {
      if (released) return;
      released = true;
      if (this.#held.get(name) === unlock) this.#held.delete(name);
      if (generation !== this.#generation) return; // that connection and its locks are gone
      await this.#query(client, 'SELECT pg_advisory_unlock(hashtextextended($1, 0))', [name]).catch(() => this.#drop(generation));
    };
    this.#held.set(name, unlock);
    return unlock;
  }

  /** Releases every lock held here and closes the connection. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await Promise.all([...this.#held.values()].map((unlock) => unlock()));
    this.#closed = true;
    const client = this.#client;
    this.#client = undefined;
    this.#generation++;
    await client?.then((c) => c.end()).catch(() => {});
  }

  async #tryOnce(name: string): Promise<{ locked: boolean; client: pg.Client; generation: number }> {
    const { client, generation } = await this.#connection();
    try {
      const { rows } = await this.#query<{ locked: boolean }>(client, 'SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS locked', [name]);
      return { locked: rows[0]?.locked === true, client, generation };
    } catch (error) {
      this.#drop(generation); // whatever failed, the next statement starts on a fresh connection
      throw error;
    }
  }

  /** Sends a statement once the previous one is answered (node-postgres's own queueing is deprecated). */
  #query<R extends pg.QueryResultRow>(client: pg.Client, sql: string, values: unknown[]): Promise<pg.QueryResult<R>> {
    const result = this.#tail.then(() => client.query<R>(sql, values));
    this.#tail = result.catch(() => {});
    return result;
  }

  #connection(): Promise<{ client: pg.Client; generation: number }> {
    const generation = this.#generation;
    if (!this.#client) {
      const opening = this.#connectRetry.connect(() => this.#open());
      this.#client = opening;
      opening.catch(() => this.#drop(generation));
    }
    return this.#client.then((client) => ({ client, generation }));
  }

  async #open(): Promise<pg.Client> {
    const client = new pg.Client({
      connectionString: this.#databaseUrl,
      connectionTimeoutMillis: 5_000,
      query_timeout: this.#queryTimeoutMs,
      application_name: 'khipu-audition-cache locks',
    });
    const generation = this.#generation;
    // A dropped connection must not crash the process; its locks are released by the server.
    const lost = () => this.#drop(generation);
    client.on('error', lost);
    client.on('end', lost);
    try {
      await client.connect();
    } catch (error) {
      client.removeListener('end', lost);
      throw error;
    }
    return client;
  }

  /** Forgets the connection of `generation` (if it is still the current one): the next statement opens a new one. */
  #drop(generation: number): void {
    if (generation !== this.#generation) return;
    const client = this.#client;
    this.#client = undefined;
    this.#generation++;
    void client?.then((c) => c.end()).catch(() => {});
  }
}
