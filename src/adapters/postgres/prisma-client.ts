import type pg from 'pg';
import type { Prisma, PrismaClient } from '../../generated/prisma/client.ts';
import type { StallGuard } from '../stall-guard.ts';
import { RetryingPool, type ConnectRetry } from './connect-retry.ts';
import type { Sql } from './sql.ts';

export type { PrismaClient };

export interface DatabaseOptions {
  maxConnections?: number;
  connectRetry: ConnectRetry;
  timeoutMs?: number;
  stallGuard: StallGuard;
}

/** A raw statement as Prisma takes it: a template's strings and values, or one built with `sql`. */
type RawArgs = [query: TemplateStringsArray | Sql, ...values: unknown[]];

/**
 * The database as the adapters reach it: one node-postgres pool (the app's connect retry, stall guard and deadlines:
 * RetryingPool), and Prisma's client over that same pool for the statements that go through Prisma. The statements of a
 * HIT and of a miss go straight to the pool (`runSql`); Prisma's client runtime (~0.3 MB of the package, ~30 ms to
 * load, and its query compiler) is loaded at the first statement that needs it, not as an instance starts: a new
 * instance's first HIT does not wait for it. Open one per process and share it; `close()` ends both.
 */
export class Database {
  readonly pool: pg.Pool;
  readonly #load: () => Promise<PrismaClient>;
  #client: Promise<PrismaClient> | undefined;
  #loaded = false;
  #closed = false;

  /** The pool opened now; Prisma's client when first asked for. */
  static open(databaseUrl: string, options: DatabaseOptions): Database {
    const timeoutMs = options.timeoutMs ?? 5_000;
    const pool = new RetryingPool(
      {
        connectionString: databaseUrl,
        max: options.maxConnections ?? 10,
        // DATABASE_TIMEOUT_SECONDS, three ways: a connection not ready in time (a database that
        // accepts the connection and never answers, not only one that is unreachable), the
        // longest a request waits for a connection of a busy pool, and a statement sent that gets
        // no answer. node-postgres then fails the statement and the pool discards its connection.
        connectionTimeoutMillis: timeoutMs,
        query_timeout: timeoutMs,
      },
      options.connectRetry,
      options.stallGuard,
    );
    // An idle connection the server ends (a restart) is an 'error' event on the pool, which
    // drops that connection; the next request opens a new one.
    pool.on('error', () => {});
    return new Database(pool, async () => (await import('./prisma-runtime.ts')).newPrismaClient(pool, timeoutMs));
  }

  private constructor(pool: pg.Pool, load: () => Promise<PrismaClient>) {
    this.pool = pool;
    this.#load = load;
  }

  /** Whether Prisma's client runtime was loaded (a statement went through Prisma). */
  get prismaLoaded(): boolean {
    return this.#loaded;
  }

  /** Prisma's client over the pool, loaded at the first call (a failed load is tried again at the next). */
  client(): Promise<PrismaClient> {
    if (this.#closed) return Promise.reject(new Error('the database was closed'));
    this.#client ??= this.#load().then(
      (client) => {
        this.#loaded = true;
        return client;
      },
      (error: unknown) => {
        this.#client = undefined;
        throw error;
      },
    );
    return this.#client;
  }

  /** Prisma's `$queryRaw`. */
  async $queryRaw<T = unknown>(...args: RawArgs): Promise<T> {
    return (await this.client()).$queryRaw<T>(...args);
  }

  /** Prisma's `$executeRaw`: how many rows the statement changed. */
  async $executeRaw(...args: RawArgs): Promise<number> {
    return (await this.client()).$executeRaw(...args);
  }

  /** Prisma's interactive transaction: `work`'s statements on one connection, committed when it resolves. */
  async $transaction<R>(work: (tx: Prisma.TransactionClient) => Promise<R>): Promise<R> {
    return (await this.client()).$transaction(work);
  }

  /**
   * Ends Prisma's client, if it was loaded, then the pool, which is ours to end (the driver adapter never ends it, see
   * prisma-runtime.ts): without that, an instance would keep its connections open until their idle timeout, and its
   * process alive. Statements after it fail.
   */
  async close(): Promise<void> {
    this.#closed = true;
    try {
      const client = this.#client && (await this.#client.catch(() => undefined));
      await client?.$disconnect();
    } finally {
      if (!this.pool.ending) await this.pool.end();
    }
  }
}

/** The pool, or one of its connections inside a transaction. */
export type Queryable = pg.Pool | pg.PoolClient;

/** A statement built with `sql` (its fragments and values) run straight through node-postgres (Database.pool). */
export function runSql<R extends pg.QueryResultRow = pg.QueryResultRow>(db: Queryable, statement: Sql) {
  return db.query<R>(statement.text, statement.values);
}
