import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PgLockSession } from '../../../src/adapters/postgres/pg-lock-session.ts';
import { PgMissLocks } from '../../../src/adapters/postgres/pg-miss-locks.ts';
import { withPgClient } from '../../../tools/local-services/postgres-server.ts';
import { describeMissLocksContract } from '../../ports/miss-locks.contract.ts';
import { createTestDatabase, type TestDatabase } from '../../support/test-database.ts';

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase('migrated');
});
afterAll(() => database.drop());

/** Each instance's one lock connection, ended after each test (after the locks' own close). */
const sessions: PgLockSession[] = [];
const instance = () => {
  const session = new PgLockSession(database.url);
  sessions.push(session);
  return new PgMissLocks(session);
};
afterEach(() => Promise.all(sessions.splice(0).map((session) => session.close())));

// Two instances, each with its own lock connection, as two app instances on one database.
describeMissLocksContract('PgMissLocks on Postgres', async () => ({
  first: instance(),
  second: instance(),
}));

describe('PgMissLocks when a holder loses its connection', () => {
  it('lets go of the lock at once, and its unlock afterwards does not throw', async () => {
    const [first, second] = [instance(), instance()];
    try {
      const key = randomBytes(32).toString('hex');
      const unlock = await first.tryLock(key);
      expect(unlock).toBeTypeOf('function');
      // The server ends the holder's session (a restart, a failover), and waits until it has ended.
      // (A bigint advisory lock shows in pg_locks as its high and low 32 bits.)
      const { rows } = await withPgClient(database.url, (client) =>
        client.query<{ ended: boolean }>(
          `SELECT pg_terminate_backend(pid, 5000) AS ended FROM pg_locks
            WHERE locktype = 'advisory' AND granted AND objsubid = 1
              AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
              AND ((classid::bigint << 32) | objid::bigint) = hashtextextended($1, 0)`,
          [`khipu:audition:${key}`],
        ),
      );
      expect(rows).toEqual([{ ended: true }]);

      const theirs = await second.tryLock(key);
      expect(theirs).toBeTypeOf('function');
      await unlock!();
      await theirs!();
      // The instance whose lock connection died opens a new one for its next lock.
      const next = await first.tryLock(randomBytes(32).toString('hex'));
      expect(next).toBeTypeOf('function');
      await next!();
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  });
});
