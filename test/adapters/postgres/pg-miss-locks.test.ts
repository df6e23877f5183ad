import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ConnectRetry } from '../../../src/adapters/postgres/connect-retry.ts';
import { PgLockSession } from '../../../src/adapters/postgres/pg-lock-session.ts';
import { PgMissLocks } from '../../../src/adapters/postgres/pg-miss-locks.ts';
import type { MissLock } from '../../../src/ports/miss-locks.ts';
import { withPgClient } from '../../../tools/local-services/postgres-server.ts';
import type { TcpProxy } from '../../../tools/local-services/tcp-proxy.ts';
import { describeMissLocksContract } from '../../ports/miss-locks.contract.ts';
import {
  advisoryLockHolder,
  answerWithSessionEnd,
  proxyTo,
  terminateProxiedBackends,
} from '../../support/pg-session-faults.ts';
import { createTestDatabase, type TestDatabase } from '../../support/test-database.ts';

let database: TestDatabase;
/** The first instance's way to the database, so a test decides when news of its session reaches it. */
let proxy: TcpProxy;
let proxiedUrl: string;
beforeAll(async () => {
  database = await createTestDatabase('migrated');
  ({ proxy, url: proxiedUrl } = await proxyTo(database.url));
});
afterAll(async () => {
  await proxy.close();
  await database.drop();
});

/** Each instance's one lock connection, ended after each test (after the locks' own close). */
const sessions: PgLockSession[] = [];
/** What the sessions warned of. */
const warnings: string[] = [];
const instance = (url: string, options: { connectRetry?: ConnectRetry } = {}) => {
  const session = new PgLockSession(url, { ...options, log: { warn: (line: string) => warnings.push(line) } });
  sessions.push(session);
  return new PgMissLocks(session);
};
afterEach(async () => {
  proxy.resume();
  await Promise.all(sessions.splice(0).map((session) => session.close()));
  warnings.length = 0;
});

const newKey = () => randomBytes(32).toString('hex');
const lockName = (key: string) => `khipu:audition:${key}`;

// Two instances, each with its own lock connection, as two app instances on one database.
describeMissLocksContract('PgMissLocks on Postgres', async () => ({
  first: instance(proxiedUrl),
  second: instance(database.url),
  endFirstSession: async () => {
    // Every byte from the server is held, the server ends the session, and its end is held too.
    proxy.pause();
    await terminateProxiedBackends(database.url, proxy);
    await vi.waitFor(() => expect(proxy.connections.every((connection) => connection.serverEnded)).toBe(true), {
      timeout: 10_000,
    });
    return async () => proxy.resume();
  },
}));

describe('PgMissLocks when a holder loses its connection', () => {
  it('takes many locks at once right after its connection is ended: a grant read together with that end is not believed; all are taken on one new connection and really held', async () => {
    const [first, second] = [instance(proxiedUrl), instance(database.url)];
    const key = newKey();
    const held = (await first.tryLock(key))!;
    const ended = await advisoryLockHolder(database.url, lockName(key));

    // The first of the new lock requests is granted, and the client reads that grant together
    // with the end of its session: by then the lock is gone with it. The others wait their turn.
    const keys = Array.from({ length: 20 }, newKey);
    const { result, deliver } = await answerWithSessionEnd({ databaseUrl: database.url, proxy, pid: ended }, () =>
      Promise.all(keys.map((k) => first.tryLock(k))),
    );
    deliver();
    const locks = await result;
    expect(locks.every((lock) => lock !== undefined)).toBe(true);

    // Each is held, and so is the lock taken before (taken back), on ONE new connection.
    const all = [held, ...(locks as MissLock[])];
    expect(await Promise.all(all.map((lock) => lock.stillHeld()))).toEqual(all.map(() => true));
    for (const k of [key, ...keys]) expect(await second.tryLock(k)).toBeUndefined();
    const { rows } = await withPgClient(database.url, (client) =>
      client.query<{ pid: number }>(
        `SELECT DISTINCT pid FROM pg_locks
          WHERE locktype = 'advisory' AND granted AND objsubid = 1
            AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND ((classid::bigint << 32) | objid::bigint) = ANY (SELECT hashtextextended('khipu:audition:' || k, 0) FROM unnest($1::text[]) AS k)`,
        [[key, ...keys]],
      ),
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]!.pid).not.toBe(ended);
    expect(warnings).toEqual([]); // nothing was lost

    await Promise.all(all.map((lock) => lock.release()));
    for (const k of [key, ...keys]) {
      const theirs = await second.tryLock(k);
      expect(theirs).toBeDefined();
      await theirs!.release();
    }
  });

  it('does not take a proof read together with the end of its session: a lock another instance took meanwhile is reported lost, once', async () => {
    const [first, second] = [instance(proxiedUrl), instance(database.url)];
    const key = newKey();
    const lock = (await first.tryLock(key))!;
    const ended = await advisoryLockHolder(database.url, lockName(key));

    // The session answers the proof, and ends before the client reads that answer.
    const { result, deliver } = await answerWithSessionEnd({ databaseUrl: database.url, proxy, pid: ended }, () =>
      lock.stillHeld(),
    );
    const theirs = (await second.tryLock(key))!;
    expect(theirs).toBeDefined();
    deliver();
    expect(await result).toBe(false);
    expect(await lock.stillHeld()).toBe(false);
    expect(warnings).toEqual([
      'lock session: the lock connection ended; took back 0 lock(s), 1 taken meanwhile by another instance, now lost',
    ]);

    // Letting go of the lost lock frees nothing of the other instance's.
    await lock.release();
    expect(await second.tryLock(key)).toBeUndefined();
    expect(await first.tryLock(key)).toBeUndefined();
    expect(await theirs.stillHeld()).toBe(true);
    await theirs.release();
  });

  it('lets go of its keys when cut off from the database for good, and stops believing it holds them', async () => {
    const own = await proxyTo(database.url);
    try {
      // No wait for a restart: the first refused reconnection is final.
      const [cutOff, second] = [
        instance(own.url, { connectRetry: new ConnectRetry({ windowMs: 0 }) }),
        instance(database.url),
      ];
      const key = newKey();
      const lock = (await cutOff.tryLock(key))!;
      const pid = await advisoryLockHolder(database.url, lockName(key));

      // Every connection cut, and no new one possible (the instance's network is gone).
      await own.proxy.close();
      expect(await lock.stillHeld()).toBe(false);
      expect(warnings).toEqual([
        expect.stringMatching(/^lock session: could not reconnect to take back 1 lock\(s\), now lost: /),
      ]);

      // The server ends that session when it sees the connection gone, and the key is free.
      await vi.waitFor(
        async () => {
          const { rows } = await withPgClient(database.url, (client) =>
            client.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid]),
          );
          expect(rows).toEqual([]);
        },
        { timeout: 10_000 },
      );
      const theirs = await second.tryLock(key);
      expect(theirs).toBeDefined();
      await lock.release();
      await theirs!.release();
    } finally {
      await own.proxy.close();
    }
  });
});
