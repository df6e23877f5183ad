import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MemoryLockTable, MemoryMissLocks } from './memory-miss-locks.ts';
import { describeMissLocksContract } from '../ports/miss-locks.contract.ts';

describeMissLocksContract('MemoryMissLocks', async () => {
  const table = new MemoryLockTable();
  return { first: new MemoryMissLocks(table), second: new MemoryMissLocks(table) };
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
    expect(await locks.tryLock(key)).toBeTypeOf('function');
    expect(locks.table.isHeld(key)).toBe(true);
    expect(locks.attempts).toBe(2);
  });
});
