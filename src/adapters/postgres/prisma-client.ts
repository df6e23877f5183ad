import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../../generated/prisma/client.ts';

export type { PrismaClient };

/**
 * A Prisma client over node-postgres (Prisma 7's driver adapter: no query-engine binary).
 * Build one per process and share it; `$disconnect()` ends its pool.
 */
export function createPrismaClient(databaseUrl: string, options: { maxConnections?: number } = {}): PrismaClient {
  const adapter = new PrismaPg({
    connectionString: databaseUrl,
    max: options.maxConnections ?? 10,
    // Fail fast when the database is unreachable instead of waiting on the OS's TCP timeout.
    connectionTimeoutMillis: 5_000,
  });
  return new PrismaClient({ adapter });
}
