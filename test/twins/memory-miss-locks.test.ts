import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MemoryLockTable, MemoryMissLocks } from './memory-miss-locks.ts';
import { describeMissLocksContract } from '../ports/miss-locks.contract.ts';

describeMissLocksContract('MemoryMissLocks', async () => {
  const table = new MemoryLockTable();
  const first = new MemoryMissLocks(table);
  return {
    first,
    second: new MemoryMissLocks(table),
    endFirstSession: async () => {
      const hear = first.endSession();
      return async () => hear();
    },
  };
});

describe('MemoryMissLocks fault injection', () => {
  it('throws the set error from tryLock, holding nothing, until it is cleared', async () => {
    const locks = new MemoryMissLocks();
    const key = randomBytes(32).toString('hex');
    const outage = new Error('connection refused');
    locks.failing = outage;
    await expect(locks.tryLock(key)).rejects.toBe(outage);
    expect(locks.table.heldCount).toBe(0);

    locks.failing = undefined;
    expect(await locks.tryLock(key)).toBeDefined();
    expect(locks.table.isHeld(key)).toBe(true);
    expect(locks.attempts).toBe(2);
  });

  it('holds every stillHeld at the proof gate until it opens, counting them', async () => {
    const locks = new MemoryMissLocks();
    const lock = (await locks.tryLock(randomBytes(32).toString('hex')))!;
    let open!: () => void;
    locks.proofGate = new Promise((resolve) => (open = resolve));
    let answered = false;
    const proof = lock.stillHeld().then((held) => {
      answered = true;
      return held;
    });
    expect(locks.proofs).toBe(1);
    await Promise.resolve();
    expect(answered).toBe(false);
    open();
    expect(await proof).toBe(true);
  });

  it('hears of its ended session at its next statement, as a statement on an ended connection fails', async () => {
    const table = new MemoryLockTable();
    const [first, second] = [new MemoryMissLocks(table), new MemoryMissLocks(table)];
    const [lostKey, keptKey] = [randomBytes(32).toString('hex'), randomBytes(32).toString('hex')];
    const lost = (await first.tryLock(lostKey))!;
    const kept = (await first.tryLock(keptKey))!;
    first.endSession();
    expect(table.heldCount).toBe(0); // free at once for every instance
    expect(await second.tryLock(lostKey)).toBeDefined();
    expect(await first.tryLock(randomBytes(32).toString('hex'))).toBeDefined(); // hears, takes back keptKey
    expect(table.isHeld(keptKey)).toBe(true);
    expect(await kept.stillHeld()).toBe(true);
    expect(await lost.stillHeld()).toBe(false);
  });
});
