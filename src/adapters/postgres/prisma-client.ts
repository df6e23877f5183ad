import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../../generated/prisma/client.ts';
import { ConnectRetry, RetryingPool } from './connect-retry.ts';

export type { PrismaClient };

/**
 * A Prisma client over node-postgres (Prisma 7's driver adapter: no query-engine binary).
 * Build one per process and share it; `$disconnect()` ends its pool.
 */
export function createPrismaClient(databaseUrl: string, options: { maxConnections?: number; connectRetry?: ConnectRetry } = {}): PrismaClient {
  const pool = new RetryingPool(
    {
      connectionString: databaseUrl,
      max: options.maxConnections ?? 10,
      // Fail fast when the database is unreachable instead of waiting on the OS's TCP timeout;
      // also the longest a request waits for a connection of a busy pool.
      connectionTimeoutMillis: 5_000,
    },
    options.connectRetry ?? new ConnectRetry(),
  );
  // An idle connection the server ends (a restart) is an 'error' event on the pool, which
  // drops that connection; the next request opens a new one.
  pool.on('error', () => {});
  // errorFormat 'minimal': Prisma's default ('colorless') captures a stack trace on every
  // query, to point a failing one's message at the calling line; under load that was a
  // measurable share of each cache lookup (npm run bench). Our errors are logged through
  // describeError, which needs only the message.
  return new PrismaClient({ adapter: new PrismaPg(pool, { disposeExternalPool: true }), errorFormat: 'minimal' });
}
