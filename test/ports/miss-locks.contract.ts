import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MissLocks } from '../../src/ports/miss-locks.ts';

export interface MissLocksUnderTest {
  /** Two app instances (two workers, two hosts) coordinating through one backend. */
  first: MissLocks;
  second: MissLocks;
  /**
   * The backend ends the first instance's session (a restart, a failover, a terminated
   * backend): once this resolves, every lock it held is free for the second, and the first
   * has not heard of it. Call the returned function to let the news reach it.
   */
  endFirstSession(): Promise<() => Promise<void>>;
}

/** A cache key as the service makes them: a sha256 hex digest. */
const newKey = () => randomBytes(32).toString('hex');

/**
 * The behaviour the miss filler relies on from any MissLocks, run against every adapter: the
 * same suite proves the in-memory twin and PgMissLocks (advisory locks on Postgres) agree.
 */
export function describeMissLocksContract(name: string, create: () => Promise<MissLocksUnderTest>): void {
  describe(`MissLocks contract: ${name}`, () => {
    let first: MissLocks;
    let second: MissLocks;
    let endFirstSession: MissLocksUnderTest['endFirstSession'];
    beforeEach(async () => {
      ({ first, second, endFirstSession } = await create());
    });
    afterEach(async () => {
      await first.close();
      await second.close();
    });

    it('locks a free key, and refuses it to the other instance while it is held', async () => {
      const key = newKey();
      const lock = await first.tryLock(key);
      expect(lock).toBeDefined();
      expect(await second.tryLock(key)).toBeUndefined();
      expect(await second.tryLock(key)).toBeUndefined();
      await lock!.release();
    });

    it('refuses a held key to its own instance too: a key has one holder', async () => {
      const key = newKey();
      const lock = await first.tryLock(key);
      expect(lock).toBeDefined();
      expect(await first.tryLock(key)).toBeUndefined();
      await lock!.release();
    });

    it('lets the other instance take a key once it is released, and then refuses it to the first', async () => {
      const key = newKey();
      await (await first.tryLock(key))!.release();
      const theirs = await second.tryLock(key);
      expect(theirs).toBeDefined();
      expect(await first.tryLock(key)).toBeUndefined();
      await theirs!.release();
      const back = await first.tryLock(key);
      expect(back).toBeDefined();
      await back!.release();
    });

    it('lets go once: releasing again changes nothing, not even a lock taken since', async () => {
      const key = newKey();
      const lock = (await first.tryLock(key))!;
      await lock.release();
      await lock.release();
      const theirs = await second.tryLock(key);
      expect(theirs).toBeDefined();
      await lock.release();
      expect(await first.tryLock(key)).toBeUndefined();
      expect(await second.tryLock(key)).toBeUndefined();
      await theirs!.release();
    });

    it('proves a lock it holds still held, and one it released not held', async () => {
      const key = newKey();
      const lock = (await first.tryLock(key))!;
      expect(await lock.stillHeld()).toBe(true);
      expect(await lock.stillHeld()).toBe(true);
      await lock.release();
      expect(await lock.stillHeld()).toBe(false);
      const theirs = (await second.tryLock(key))!;
      expect(await lock.stillHeld()).toBe(false); // the key is held again, but not through this lock
      expect(await theirs.stillHeld()).toBe(true);
      await theirs.release();
    });

    it('keeps different keys apart', async () => {
      const [a, b] = [newKey(), newKey()];
      const lockA = (await first.tryLock(a))!;
      expect(lockA).toBeDefined();
      const lockB = (await second.tryLock(b))!;
      expect(lockB).toBeDefined();
      expect(await first.tryLock(b)).toBeUndefined();
      expect(await second.tryLock(a)).toBeUndefined();

      await lockA.release();
      expect(await first.tryLock(b)).toBeUndefined(); // b is still held
      expect(await lockB.stillHeld()).toBe(true);
      const again = await second.tryLock(a);
      expect(again).toBeDefined();
      await again!.release();
      await lockB.release();
    });

    it('holds many keys at once, and lets go of each on its own', async () => {
      const keys = Array.from({ length: 10 }, newKey);
      const locks = await Promise.all(keys.map((key) => first.tryLock(key)));
      expect(locks.every((lock) => lock !== undefined)).toBe(true);
      expect(await Promise.all(keys.map((key) => second.tryLock(key)))).toEqual(keys.map(() => undefined));

      await Promise.all(locks.filter((_, i) => i % 2 === 0).map((lock) => lock!.release()));
      const taken = await Promise.all(keys.map((key) => second.tryLock(key)));
      expect(taken.map((lock) => lock !== undefined)).toEqual(keys.map((_, i) => i % 2 === 0));

      await Promise.all([...locks, ...taken].flatMap((lock) => (lock ? [lock.release()] : [])));
    });

    it('lets go of every lock it holds when closed: the other instance can take them', async () => {
      const keys = [newKey(), newKey(), newKey()];
      const stale = await Promise.all(keys.map((key) => first.tryLock(key)));
      expect(stale.every((lock) => lock !== undefined)).toBe(true);

      await first.close();
      const taken = await Promise.all(keys.map((key) => second.tryLock(key)));
      expect(taken.every((lock) => lock !== undefined)).toBe(true);

      // Releasing after the close lets go of nothing: the keys stay with their new holder.
      await Promise.all(stale.map((lock) => lock!.release()));
      expect(await Promise.all(stale.map((lock) => lock!.stillHeld()))).toEqual([false, false, false]);
      expect(await Promise.all(keys.map((key) => second.tryLock(key)))).toEqual([undefined, undefined, undefined]);
      await Promise.all(taken.map((lock) => lock!.release()));
    });

    it('takes back the locks of a session that ended when nobody took them meanwhile: still held, still refused to the other instance', async () => {
      const keys = [newKey(), newKey()];
      const locks = (await Promise.all(keys.map((key) => first.tryLock(key)))).map((lock) => lock!);

      const hear = await endFirstSession();
      await hear();
      expect(await Promise.all(locks.map((lock) => lock.stillHeld()))).toEqual([true, true]);
      expect(await Promise.all(keys.map((key) => second.tryLock(key)))).toEqual([undefined, undefined]);

      // The instance goes on: a new lock, and its releases let go for real.
      const next = (await first.tryLock(newKey()))!;
      expect(await next.stillHeld()).toBe(true);
      await Promise.all([...locks, next].map((lock) => lock.release()));
      const taken = await Promise.all(keys.map((key) => second.tryLock(key)));
      expect(taken.every((lock) => lock !== undefined)).toBe(true);
      await Promise.all(taken.map((lock) => lock!.release()));
    });

    it('reports a lock lost when its session ended and the other instance took the key meanwhile; releasing it frees nothing of theirs', async () => {
      const [lostKey, keptKey] = [newKey(), newKey()];
      const lost = (await first.tryLock(lostKey))!;
      const kept = (await first.tryLock(keptKey))!;

      const hear = await endFirstSession();
      const theirs = await second.tryLock(lostKey); // before the first instance hears of its session's end
      expect(theirs).toBeDefined();
      await hear();
      expect(await lost.stillHeld()).toBe(false);
      expect(await kept.stillHeld()).toBe(true); // the other lock of that session was taken back
      expect(await second.tryLock(keptKey)).toBeUndefined();

      // Still refused to the first instance (its holder has not let go), and after it lets go,
      // refused all the same: the key is the other instance's.
      expect(await first.tryLock(lostKey)).toBeUndefined();
      await lost.release();
      expect(await first.tryLock(lostKey)).toBeUndefined();
      expect(await theirs!.stillHeld()).toBe(true);

      await Promise.all([theirs!.release(), kept.release()]);
      const back = await first.tryLock(lostKey);
      expect(back).toBeDefined();
      await back!.release();
    });

    it('closes with nothing held, and closes twice: each close resolves, and the second lets go of nothing taken since', async () => {
      await expect(first.close()).resolves.toBeUndefined();
      const key = newKey();
      const theirs = await second.tryLock(key);
      expect(theirs).toBeDefined();

      await expect(first.close()).resolves.toBeUndefined();
      expect(await theirs!.stillHeld()).toBe(true);
      expect(await second.tryLock(key)).toBeUndefined();
      await theirs!.release();
    });

    it.each(['not-a-key', 'A'.repeat(64), 'a'.repeat(63), `${'a'.repeat(64)}'); SELECT 1; --`])(
      'refuses %j as a key: only a sha256 hex digest is one',
      async (key) => {
        await expect(first.tryLock(key)).rejects.toThrow(/sha256 hex digest/);
      },
    );
  });
}
