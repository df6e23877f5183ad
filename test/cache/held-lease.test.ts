import { describe, expect, it } from 'vitest';
import { HeldLease } from '../../src/cache/held-lease.ts';
import { MemoryCacheDatabase } from '../twins/memory-cache-database.ts';
import { MemoryLeases } from '../twins/memory-leases.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Two instances on one lease table, the table's clock (and the instances') in the test's hands. */
function twoInstances() {
  const database = new MemoryCacheDatabase();
  const clock = { ms: 0 };
  database.leaseClock = () => clock.ms;
  const now = () => new Date(clock.ms);
  return { database, clock, now, mine: new MemoryLeases(database), theirs: new MemoryLeases(database) };
}

describe('HeldLease', () => {
  it('keeps its lease alive while held: renewed every third of its time to live, so no one can take it over', async () => {
    const { clock, mine, theirs } = twoInstances();
    const held = (await HeldLease.take(mine, 'cleanup', 90))!;
    for (let i = 0; i < 5; i++) {
      await sleep(60); // two beats of 30 ms
      clock.ms += 60; // less than its time to live since the last beat
      expect(await theirs.take('cleanup', 90)).toBeUndefined();
    }
    await held.release();
    expect(await theirs.take('cleanup', 90)).toBeDefined();
  });

  it('is lost once another instance took it over: prove() says so, and its release frees nothing', async () => {
    const { clock, now, mine, theirs } = twoInstances();
    const held = (await HeldLease.take(mine, 'cleanup', 60_000, now))!;
    clock.ms += 60_001; // it froze: not renewed in time
    const takeover = await theirs.take('cleanup', 60_000);
    expect(takeover).toMatchObject({ generation: 2 });
    expect(await held.prove()).toBe(false);
    expect(held.lost).toBe(true);
    await held.release();
    expect(await theirs.renew(takeover!, 60_000)).toBe(true);
  });

  it('is proven without asking the database within a third of its time to live of the last confirmation', async () => {
    const { database, clock, now, mine } = twoInstances();
    const held = (await HeldLease.take(mine, 'cleanup', 60_000, now))!;
    database.failing = new Error('connection refused'); // an answer would be a failure: none is asked for
    clock.ms += 19_999;
    expect(await held.prove()).toBe(true);
    clock.ms += 1; // a renewal is due: asked, and the database does not answer
    expect(await held.prove()).toBe(false);
    database.failing = null;
    expect(await held.prove()).toBe(true); // renewed: confirmed again
    database.failing = new Error('connection refused');
    clock.ms += 19_999;
    expect(await held.prove()).toBe(true);
    clock.ms -= 30_000; // the clock stepped back: asked, not taken on trust
    expect(await held.prove()).toBe(false);
    database.failing = null;
    expect(await held.prove()).toBe(true); // renewed, confirmed at the clock's new reading
    database.failing = new Error('connection refused');
    expect(await held.prove()).toBe(true);
    await held.release();
    expect(await held.prove()).toBe(false);
  });

  it('cannot be proven while the database does not answer, and is not given up for it', async () => {
    const { database, clock, now, mine } = twoInstances();
    const held = (await HeldLease.take(mine, 'cleanup', 60_000, now))!;
    clock.ms += 20_000; // due for a renewal
    database.failing = new Error('connection refused');
    expect(await held.prove()).toBe(false);
    expect(held.lost).toBe(false);
    database.failing = null;
    expect(await held.prove()).toBe(true);
    await held.release();
  });

  it('stops renewing once released, and releases once', async () => {
    const { database, mine, theirs } = twoInstances();
    const held = (await HeldLease.take(mine, 'cleanup', 30))!;
    await held.release();
    await held.release();
    expect(await held.prove()).toBe(false);
    const next = await theirs.take('cleanup', 60_000);
    await sleep(50); // beats of the released lease would have come by now
    expect(database.leases.get('cleanup')?.token).toBe(next!.token);
  });

  it('is not granted while another instance holds the name', async () => {
    const { mine, theirs } = twoInstances();
    await theirs.take('cleanup', 60_000);
    expect(await HeldLease.take(mine, 'cleanup', 60_000)).toBeUndefined();
  });
});
