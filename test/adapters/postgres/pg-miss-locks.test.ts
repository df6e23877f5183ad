import { randomBytes } from 'node:crypto';
import pg from 'pg';
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

  it('takes many locks at once right after its connection is ended: each is retried on one new connection and really held', async () => {
    const [first, second] = [instance(), instance()];
    const key = randomBytes(32).toString('hex');
    const held = await first.tryLock(key);
    expect(held).toBeTypeOf('function');
    // The server ends the session while the instance asks for more locks: they are sent on
    // the dying connection and fail there, or go to the new one.
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    const { rows: holder } = await admin.query<{ pid: number }>(
      `SELECT pid FROM pg_locks
        WHERE locktype = 'advisory' AND granted AND objsubid = 1
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND ((classid::bigint << 32) | objid::bigint) = hashtextextended($1, 0)`,
      [`khipu:audition:${key}`],
    );
    const terminated = admin.query('SELECT pg_terminate_backend($1)', [holder[0]!.pid]).finally(() => admin.end());
    const keys = Array.from({ length: 20 }, () => randomBytes(32).toString('hex'));
    const unlocks = await Promise.all(keys.map((k) => first.tryLock(k)));
    await terminated;
    expect(unlocks.every((unlock) => typeof unlock === 'function')).toBe(true);
    // Each is held: a failure that arrived late never dropped the connection they are on.
    for (const k of keys) expect(await second.tryLock(k)).toBeUndefined();
    // Exactly one connection of the instance is open for them.
    const { rows } = await withPgClient(database.url, (client) =>
      client.query<{ sessions: number }>(
        `SELECT count(DISTINCT pid)::int AS sessions FROM pg_locks
          WHERE locktype = 'advisory' AND granted AND objsubid = 1
            AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND ((classid::bigint << 32) | objid::bigint) = ANY (SELECT hashtextextended('khipu:audition:' || k, 0) FROM unnest($1::text[]) AS k)`,
        [keys],
      ),
    );
    expect(rows).toEqual([{ sessions: 1 }]);
    await Promise.all(unlocks.map((unlock) => unlock!()));
    await held!();
    for (const k of keys) {
      const theirs = await second.tryLock(k);
      expect(theirs).toBeTypeOf('function');
      await theirs!();
    }
  });
});
