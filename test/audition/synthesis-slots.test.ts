import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SynthesisSlots, type SlotPriority } from '../../src/audition/synthesis-slots.ts';
import { AppError } from '../../src/errors.ts';

/** Starts `acquire` and records when it is granted. */
function ask(slots: SynthesisSlots, tenant: string, granted: string[], label = tenant, priority?: SlotPriority) {
  return slots.acquire(tenant, priority).then((release) => {
    granted.push(label);
    return release;
  });
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('SynthesisSlots', () => {
  beforeEach(() => vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] }));
  afterEach(() => vi.useRealTimers());

  it('lets a tenant alone use every slot, and queues the next request until one frees', async () => {
    const slots = new SynthesisSlots(3, 10_000);
    const granted: string[] = [];
    const releases = await Promise.all([1, 2, 3].map((n) => ask(slots, 'a', granted, `a${n}`)));
    expect(slots.heldBy('a')).toBe(3);
    const fourth = ask(slots, 'a', granted, 'a4');
    await settle();
    expect(granted).toEqual(['a1', 'a2', 'a3']);
    releases[0]!();
    await fourth;
    expect(granted).toEqual(['a1', 'a2', 'a3', 'a4']);
    expect(slots.heldBy('a')).toBe(3);
  });

  it('gives the next free slot to a tenant that waits behind another tenant’s burst', async () => {
    const slots = new SynthesisSlots(2, 10_000);
    const granted: string[] = [];
    const first = await Promise.all([ask(slots, 'a', granted, 'a1'), ask(slots, 'a', granted, 'a2')]);
    // A's burst queues 10 more; then B asks for one.
    const burst = Array.from({ length: 10 }, (_, i) => ask(slots, 'a', granted, `a${i + 3}`));
    const b = ask(slots, 'b', granted, 'b1');
    await settle();
    first[0]();
    const bRelease = await b;
    expect(granted).toEqual(['a1', 'a2', 'b1']); // not a3: B holds fewer slots
    // A's own requests keep their order.
    first[1]();
    bRelease();
    await settle();
    expect(granted.slice(3)).toEqual(['a3', 'a4']);
    for (const release of await Promise.all(burst.slice(0, 2))) release();
    await settle();
    expect(granted.slice(5, 7)).toEqual(['a5', 'a6']);
  });

  it('hands each freed slot to the waiting tenant holding the fewest, the longest waiting among equals', async () => {
    const slots = new SynthesisSlots(4, 10_000);
    const granted: string[] = [];
    const a = await Promise.all([1, 2, 3].map((n) => ask(slots, 'a', granted, `a${n}`)));
    const b = await ask(slots, 'b', granted, 'b1');
    // All four taken: A holds 3, B 1. C, then B, then A wait.
    const c1 = ask(slots, 'c', granted, 'c1');
    const b2 = ask(slots, 'b', granted, 'b2');
    const a4 = ask(slots, 'a', granted, 'a4');
    await settle();
    a[0]!(); // A now holds 2, B 1, C 0: C first
    await c1;
    a[1]!(); // A 1, B 1, C 1: B and A tie; B has waited longer
    await b2;
    a[2]!(); // A 0: A
    await a4;
    expect(granted).toEqual(['a1', 'a2', 'a3', 'b1', 'c1', 'b2', 'a4']);
    expect([slots.heldBy('a'), slots.heldBy('b'), slots.heldBy('c')]).toEqual([1, 2, 1]);
    b();
  });

  it('answers tts-busy with Retry-After after the wait, and a request that gave up is never granted', async () => {
    const slots = new SynthesisSlots(1, 1_000);
    const granted: string[] = [];
    const held = await ask(slots, 'a', granted, 'a1');
    const late = ask(slots, 'b', granted, 'b1');
    const failure = late.catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(1_000);
    const error = await failure;
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ code: 'tts-busy', extra: { retryAfterSeconds: 2 } });
    held();
    // The slot is free again, not handed to the request that left.
    const next = await ask(slots, 'c', granted, 'c1');
    expect(granted).toEqual(['a1', 'c1']);
    expect(slots.heldBy('b')).toBe(0);
    next();
  });

  it('counts a release once, however often it is called', async () => {
    const slots = new SynthesisSlots(1, 10_000);
    const granted: string[] = [];
    const release = await ask(slots, 'a', granted, 'a1');
    release();
    release();
    const releases = [await ask(slots, 'a', granted, 'a2')];
    const waiting = ask(slots, 'b', granted, 'b1');
    await settle();
    expect(granted).toEqual(['a1', 'a2']); // one slot: the double release did not make two
    releases[0]!();
    (await waiting)();
  });

  describe('background work (predictive prewarm)', () => {
    const background = (slots: SynthesisSlots, granted: string[], label: string, tenant = 'a') =>
      ask(slots, tenant, granted, label, 'background');

    it('takes at most half the slots and always leaves one free for an interactive request', async () => {
      const slots = new SynthesisSlots(4, 10_000);
      const granted: string[] = [];
      const burst = Array.from({ length: 6 }, (_, i) => background(slots, granted, `p${i + 1}`));
      await settle();
      expect(granted).toEqual(['p1', 'p2']); // half of 4
      expect(slots.backgroundHeld).toBe(2);
      // Two interactive requests find their slots at once, background or not.
      const interactive = await Promise.all([ask(slots, 'b', granted, 'b1'), ask(slots, 'a', granted, 'a1')]);
      expect(granted).toEqual(['p1', 'p2', 'b1', 'a1']);
      for (const release of interactive) release();
      for (const release of await Promise.all(burst.slice(0, 2))) release();
      await settle();
      expect(granted.slice(4)).toEqual(['p3', 'p4']);
      expect(slots.backgroundHeld).toBe(2);
      for (const release of await Promise.all(burst.slice(2, 4))) release();
      for (const release of await Promise.all(burst.slice(4))) release();
      expect(granted.slice(6)).toEqual(['p5', 'p6']);
    });

    it('with two slots, background work uses one: the other is an interactive request’s', async () => {
      const slots = new SynthesisSlots(2, 10_000);
      const granted: string[] = [];
      const p1 = await background(slots, granted, 'p1');
      const p2 = background(slots, granted, 'p2');
      await settle();
      expect(granted).toEqual(['p1']);
      const b1 = await ask(slots, 'b', granted, 'b1');
      expect(granted).toEqual(['p1', 'b1']);
      b1();
      p1();
      (await p2)();
    });

    it('hands a freed slot to a waiting interactive request before any background one, whoever came first', async () => {
      const slots = new SynthesisSlots(2, 10_000);
      const granted: string[] = [];
      const held = await Promise.all([ask(slots, 'a', granted, 'a1'), ask(slots, 'a', granted, 'a2')]);
      const waitingBackground = background(slots, granted, 'p1', 'b');
      const waitingInteractive = ask(slots, 'c', granted, 'c1');
      await settle();
      held[0]();
      const c1 = await waitingInteractive;
      expect(granted).toEqual(['a1', 'a2', 'c1']);
      held[1](); // one slot free: the reserve; the background request still waits
      await settle();
      expect(granted).toEqual(['a1', 'a2', 'c1']);
      c1(); // both free: now it may start
      (await waitingBackground)();
      expect(granted).toEqual(['a1', 'a2', 'c1', 'p1']);
    });

    it('gives up with tts-busy when no slot frees for it within the wait', async () => {
      const slots = new SynthesisSlots(2, 1_000);
      const granted: string[] = [];
      const held = await ask(slots, 'a', granted, 'a1');
      const failure = background(slots, granted, 'p1').catch((error: unknown) => error);
      await vi.advanceTimersByTimeAsync(1_000);
      expect(await failure).toMatchObject({ code: 'tts-busy' });
      held();
      expect(slots.backgroundHeld).toBe(0);
      (await background(slots, granted, 'p2'))();
      expect(granted).toEqual(['a1', 'p2']);
    });
  });
});
