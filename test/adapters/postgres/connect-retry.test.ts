import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  ConnectRetry,
  isConnectionLost,
  isTransientConnectError,
  retryIfConnectionLost,
} from '../../../src/adapters/postgres/connect-retry.ts';
import { testDb } from '../../support/required-deps.ts';
import { describeError } from '../../../src/errors.ts';
import { withPgClient } from '../../../tools/local-services/postgres-server.ts';
import { startTcpProxy, type TcpProxy } from '../../../tools/local-services/tcp-proxy.ts';
import { createTestDatabase, type TestDatabase } from '../../support/test-database.ts';

const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
const startingUp = () =>
  Object.assign(new Error('the database system is starting up'), { code: '57P03', severity: 'FATAL' });
const wrongPassword = () =>
  Object.assign(new Error('password authentication failed'), { code: '28P01', severity: 'FATAL' });

/** A clock for the outage window that moves `step` ms each time it is read. */
function steppingClock(step: number) {
  let now = 0;
  return () => (now += step);
}

describe('ConnectRetry', () => {
  it('retries a refused connection until the server is back, within the window', async () => {
    const retry = new ConnectRetry({ windowMs: 3_000, elapsed: steppingClock(100) });
    let attempts = 0;
    const connection = await retry.connect(() => {
      attempts++;
      return attempts < 3 ? Promise.reject(attempts === 1 ? refused() : startingUp()) : Promise.resolve('connected');
    });
    expect(connection).toBe('connected');
    expect(attempts).toBe(3);
  });

  it('does not retry what waiting cannot fix', async () => {
    const retry = new ConnectRetry({ windowMs: 3_000, elapsed: steppingClock(100) });
    let attempts = 0;
    await expect(
      retry.connect(() => {
        attempts++;
        return Promise.reject(wrongPassword());
      }),
    ).rejects.toMatchObject({ code: '28P01' });
    expect(attempts).toBe(1);
  });

  it('gives up when the outage is older than the window, and then fails at the first refusal until a connection succeeds', async () => {
    // Each read of the clock is 1 s later: the window of 2.5 s allows the first attempts only.
    const retry = new ConnectRetry({ windowMs: 2_500, elapsed: steppingClock(1_000) });
    let attempts = 0;
    const alwaysRefused = () => {
      attempts++;
      return Promise.reject(refused());
    };
    await expect(retry.connect(alwaysRefused)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    const firstCall = attempts;
    expect(firstCall).toBeGreaterThan(1);
    // The outage goes on: the next caller does not wait it out again.
    attempts = 0;
    await expect(retry.connect(alwaysRefused)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(attempts).toBe(1);
    // A success ends the outage; the next one is retried again.
    await retry.connect(() => Promise.resolve('back'));
    attempts = 0;
    let failFirst = true;
    await retry.connect(() => {
      attempts++;
      if (failFirst) {
        failFirst = false;
        return Promise.reject(refused());
      }
      return Promise.resolve('connected');
    });
    expect(attempts).toBe(2);
  });

  it('retries nothing with a window of 0', async () => {
    const retry = new ConnectRetry({ windowMs: 0, elapsed: steppingClock(1) });
    let attempts = 0;
    await expect(
      retry.connect(() => {
        attempts++;
        return Promise.reject(refused());
      }),
    ).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(attempts).toBe(1);
  });

  it('tells transient connection failures from the rest', () => {
    expect(isTransientConnectError(refused())).toBe(true);
    expect(isTransientConnectError(startingUp())).toBe(true);
    expect(isTransientConnectError(Object.assign(new Error('sorry, too many clients'), { code: '53300' }))).toBe(true);
    expect(isTransientConnectError(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isTransientConnectError(wrongPassword())).toBe(false);
    expect(isTransientConnectError(Object.assign(new Error('getaddrinfo ENOTFOUND db'), { code: 'ENOTFOUND' }))).toBe(
      false,
    );
    // A busy pool's bounded wait is not retried: it already waited.
    expect(isTransientConnectError(new Error('timeout exceeded when trying to connect'))).toBe(false);
    expect(isTransientConnectError(new Error('Connection terminated due to connection timeout'))).toBe(false);
  });
});

describe('a statement whose connection dies under it', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase('migrated');
  });
  afterAll(() => database.drop());

  it('is recognized as Prisma reports it, and run again on a new connection', async () => {
    const db = testDb(database.url, { maxConnections: 1 });
    const prisma = await db.client();
    try {
      const application = `sleeper-${crypto.randomUUID().slice(0, 8)}`;
      await prisma.$executeRawUnsafe(`SET application_name = '${application}'`);
      const sleeping = prisma.$queryRaw`SELECT pg_sleep(5)`;
      const failure = sleeping.then(
        () => undefined,
        (error: unknown) => error,
      );
      // The server ends that session while its statement runs (as a restart does).
      for (let ended = false; !ended;) {
        const { rows } = await withPgClient(database.url, (client) =>
          client.query<{ ended: boolean }>(
            `SELECT pg_terminate_backend(pid, 5000) AS ended FROM pg_stat_activity
              WHERE application_name = $1 AND state = 'active' AND query LIKE '%pg_sleep%'`,
            [application],
          ),
        );
        ended = rows.length === 1;
      }
      const error = await failure;
      expect(error).toBeDefined();
      expect(isConnectionLost(error)).toBe(true);

      // Another statement on the same client gets a new connection and answers.
      let attempts = 0;
      const rows = await retryIfConnectionLost(async () => {
        attempts++;
        if (attempts === 1) throw error; // as if it had been the one in flight
        return prisma.$queryRaw<{ one: number }[]>`SELECT 1 AS one`;
      });
      expect(rows).toEqual([{ one: 1 }]);
      expect(attempts).toBe(2);
    } finally {
      await db.close();
    }
  });

  it('is not retried for any other failure', async () => {
    let attempts = 0;
    await expect(
      retryIfConnectionLost(() => {
        attempts++;
        return Promise.reject(Object.assign(new Error('duplicate key'), { code: '23505' }));
      }),
    ).rejects.toMatchObject({ code: '23505' });
    expect(attempts).toBe(1);
    expect(isConnectionLost(new Error('Client has encountered a connection error and is not queryable'))).toBe(true);
    expect(isConnectionLost(new Error('Connection terminated'))).toBe(true);
    expect(isConnectionLost(new Error('Connection terminated due to connection timeout'))).toBe(false);
    expect(isConnectionLost(wrongPassword())).toBe(false);
  });
});

describe('a database that hangs (Postgres behind a proxy that stops forwarding)', () => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  beforeAll(async () => {
    database = await createTestDatabase();
    proxy = await startTcpProxy({
      host: '127.0.0.1',
      port: Number(new URL(database.url.replace(/^postgres(ql)?:/, 'http:')).port),
    });
  });
  afterAll(async () => {
    proxy.resume();
    await proxy.close();
    await database.drop();
  });

  it('fails a statement at its deadline and the next ones at once, lets go of the connections, and answers again after a probe', async () => {
    const url = new URL(database.url);
    url.host = `127.0.0.1:${proxy.port}`;
    const db = testDb(url.toString(), { maxConnections: 2, timeoutMs: 500 });
    const prisma = await db.client();
    try {
      await prisma.$queryRaw`SELECT 1`;
      const before = proxy.connections.length;
      proxy.pause();
      const first = await prisma.$queryRaw`SELECT 1`.catch((e: unknown) => e);
      expect(describeError(first)).toMatch(/Query read timeout/);
      // Known to hang: not asked again (no new deadline, no new connection) until a probe.
      const next = await prisma.$queryRaw`SELECT 1`.catch((e: unknown) => e);
      expect(describeError(next)).toMatch(/the database has not answered for \d+ ms/);
      // No new connection was tried for it (each would be one more connect deadline).
      expect(proxy.connections.length).toBeLessThanOrEqual(before);
      proxy.resume();
      await vi.waitFor(
        async () => expect(await prisma.$queryRaw<{ one: number }[]>`SELECT 1 AS one`).toEqual([{ one: 1 }]),
        {
          timeout: 10_000,
          interval: 100,
        },
      );
    } finally {
      await db.close();
    }
  });
});
