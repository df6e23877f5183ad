import { PrismaPg } from '@prisma/adapter-pg';
import type pg from 'pg';
import { PrismaClient, type Prisma } from '../../generated/prisma/client.ts';
import type { StallGuard } from '../stall-guard.ts';
import { RetryingPool, type ConnectRetry } from './connect-retry.ts';

export type { PrismaClient };

/**
 * A Prisma client over node-postgres (Prisma 7's driver adapter: no query-engine binary).
 * Build one per process and share it; `closePrismaClient` ends it and its pool.
 */
export function createPrismaClient(
  databaseUrl: string,
  options: { maxConnections?: number; connectRetry: ConnectRetry; timeoutMs?: number; stallGuard: StallGuard },
): PrismaClient {
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
  // errorFormat 'minimal': Prisma's default ('colorless') captures a stack trace on every
  // query, to point a failing one's message at the calling line; under load that was a
  // measurable share of each cache lookup (npm run bench). Our errors are logged through
  // describeError, which needs only the message.
  // A transaction (the cleanup's) waits for a connection as long as a statement does: Prisma's own default (2 s) gave
  // up first while PgBouncer queued clients for a server connection (npm run bench:scale; the fenced row write was a
  // transaction then, and a line's audio went unstored). Its statements each have the statement deadline.
  const client = new PrismaClient({
    adapter: new PrismaPg(pool, { disposeExternalPool: true }),
    errorFormat: 'minimal',
    transactionOptions: { maxWait: timeoutMs, timeout: 2 * timeoutMs },
  });
  pools.set(client, pool);
  return client;
}

/** Each client's pool, with its connect retry, stall guard and deadlines. */
const pools = new WeakMap<PrismaClient, pg.Pool>();

/**
 * The node-postgres pool under a client createPrismaClient opened: for the one statement on every cold hit (the index
 * lookup), which skips Prisma's client runtime (a twelfth of a cold hit's CPU, npm run bench:profile). Same
 * connections, same deadlines; Prisma still owns the schema, the migrations and every other statement.
 */
export function poolOf(client: PrismaClient): pg.Pool {
  const pool = pools.get(client);
  if (!pool) throw new Error('a Prisma client not opened by createPrismaClient has no pool of ours');
  return pool;
}

/** The pool, or one of its connections inside a transaction. */
export type Queryable = pg.Pool | pg.PoolClient;

/** A statement built with Prisma.sql (its fragments and values) run straight through node-postgres (poolOf). */
export function runSql<R extends pg.QueryResultRow = pg.QueryResultRow>(db: Queryable, statement: Prisma.Sql) {
  return db.query<R>(statement.text, statement.values);
}

/**
 * Ends the client and its pool. `$disconnect()` alone ends the pool only when the client's engine started (a
 * statement through Prisma ran): an instance whose statements all went through `poolOf` would keep its connections
 * open until their idle timeout, and its process alive.
 */
export async function closePrismaClient(client: PrismaClient): Promise<void> {
  await client.$disconnect();
  const pool = pools.get(client);
  if (pool && !pool.ending) await pool.end();
}
