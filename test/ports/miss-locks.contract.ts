import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MissLocks } from '../../src/ports/miss-locks.ts';

export interface MissLocksUnderTest {
  /** Two app instances (two workers, two hosts) coordinating through one backend. */
  first: MissLocks;
  second: MissLocks;
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
    beforeEach(async () => {
      ({ first, second } = await create());
    });
    afterEach(async () => {
      await first.close();
      await second.close();
    });

    it('locks a free key, and refuses it to the other instance while it is held', async () => {
      const key = newKey();
      const unlock = await first.tryLock(key);
      expect(unlock).toBeTypeOf('function');
      expect(await second.tryLock(key)).toBeUndefined();
      expect(await second.tryLock(key)).toBeUndefined();
      await unlock!();
    });

    it('refuses a held key to its own instance too: a key has one holder', async () => {
      const key = newKey();
      const unlock = await first.tryLock(key);
      expect(unlock).toBeTypeOf('function');
      expect(await first.tryLock(key)).toBeUndefined();
      await unlock!();
    });

    it('lets the other instance take a key once it is released, and then refuses it to the first', async () => {
      const key = newKey();
      await (await first.tryLock(key))!();
      const unlock = await second.tryLock(key);
      expect(unlock).toBeTypeOf('function');
      expect(await first.tryLock(key)).toBeUndefined();
      await unlock!();
      const back = await first.tryLock(key);
      expect(back).toBeTypeOf('function');
      await back!();
    });

    it('lets go once: unlocking again changes nothing, not even a lock taken since', async () => {
      const key = newKey();
      const unlock = (await first.tryLock(key))!;
      await unlock();
      await unlock();
      const theirs = await second.tryLock(key);
      expect(theirs).toBeTypeOf('function');
      await unlock();
      expect(await first.tryLock(key)).toBeUndefined();
      expect(await second.tryLock(key)).toBeUndefined();
      await theirs!();
    });

    it('keeps different keys apart', async () => {
      const [a, b] = [newKey(), newKey()];
      const unlockA = (await first.tryLock(a))!;
      expect(unlockA).toBeTypeOf('function');
      const unlockB = (await second.tryLock(b))!;
      expect(unlockB).toBeTypeOf('function');
      expect(await first.tryLock(b)).toBeUndefined();
      expect(await second.tryLock(a)).toBeUndefined();

      await unlockA();
      expect(await first.tryLock(b)).toBeUndefined(); // b is still held
      const again = await second.tryLock(a);
      expect(again).toBeTypeOf('function');
      await again!();
      await unlockB();
    });

    it('holds many keys at once, and lets go of each on its own', async () => {
      const keys = Array.from({ length: 10 }, newKey);
      const unlocks = await Promise.all(keys.map((key) => first.tryLock(key)));
      expect(unlocks.every((unlock) => typeof unlock === 'function')).toBe(true);
      expect(await Promise.all(keys.map((key) => second.tryLock(key)))).toEqual(keys.map(() => undefined));

      await Promise.all(unlocks.filter((_, i) => i % 2 === 0).map((unlock) => unlock!()));
      const taken = await Promise.all(keys.map((key) => second.tryLock(key)));
      expect(taken.map((unlock) => typeof unlock)).toEqual(keys.map((_, i) => (i % 2 === 0 ? 'function' : 'undefined')));

      await Promise.all([...unlocks, ...taken].filter((unlock) => unlock !== undefined).map((unlock) => unlock()));
    });

    it('lets go of every lock it holds when closed: the other instance can take them', async () => {
      const keys = [newKey(), newKey(), newKey()];
      const stale = await Promise.all(keys.map((key) => first.tryLock(key)));
      expect(stale.every((unlock) => typeof unlock === 'function')).toBe(true);

      await first.close();
      const taken = await Promise.all(keys.map((key) => second.tryLock(key)));
      expect(taken.every((unlock) => typeof unlock === 'function')).toBe(true);

      // Unlocking after the close lets go of nothing: the keys stay with their new holder.
      await Promise.all(stale.map((unlock) => unlock!()));
      expect(await Promise.all(keys.map((key) => second.tryLock(key)))).toEqual([undefined, undefined, undefined]);
      await Promise.all(taken.map((unlock) => unlock!()));
    });

    it('closes with nothing held, and closes twice', async () => {
      await first.close();
      await first.close();
    });

    it.each(['not-a-key', 'A'.repeat(64), 'a'.repeat(63), `${'a'.repeat(64)}'); SELECT 1; --`])(
      'refuses %j as a key: only a sha256 hex digest is one',
      async (key) => {
        await expect(first.tryLock(key)).rejects.toThrow(/sha256 hex digest/);
      },
    );
  });
}
