// Prisma's client runtime and its driver adapter: what Database.client() loads on first use (in the deployment package,
// the lazy chunk dist/lazy/prisma.js), never at start and never for a HIT or a miss.
import { PrismaPg } from '@prisma/adapter-pg';
import type pg from 'pg';
import { PrismaClient } from '../../generated/prisma/client.ts';

/**
 * A Prisma client over `pool` (Prisma 7's driver adapter: no query-engine binary). The pool is the caller's to end
 * (Database.close): the adapter does not end it, so a statement after that fails on the ended pool rather than the
 * adapter opening a pool of its own, without the app's connect retry, stall guard and connection budget.
 */
export function newPrismaClient(pool: pg.Pool, timeoutMs: number): PrismaClient {
  // errorFormat 'minimal': Prisma's default ('colorless') captures a stack trace on every
  // query, to point a failing one's message at the calling line; under load that was a
  // measurable share of each cache lookup (npm run bench). Our errors are logged through
  // describeError, which needs only the message.
  // A transaction (the cleanup's) waits for a connection as long as a statement does: Prisma's own default (2 s) gave
  // up first while PgBouncer queued clients for a server connection (npm run bench:scale; the fenced row write was a
  // transaction then, and a line's audio went unstored). Its statements each have the statement deadline.
  return new PrismaClient({
    adapter: new PrismaPg(pool, { disposeExternalPool: false }),
    errorFormat: 'minimal',
    transactionOptions: { maxWait: timeoutMs, timeout: 2 * timeoutMs },
  });
}
