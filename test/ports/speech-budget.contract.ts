import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import type { SpeechBudget } from '../../src/ports/speech-budget.ts';

export interface SpeechBudgetUnderTest {
  /** Two views of one store, as two instances on one database. */
  first: SpeechBudget;
  second: SpeechBudget;
  /** A view of it that cannot reach the store (a database that is down or does not answer). */
  unreachable: SpeechBudget;
}

/**
 * What the default key's daily budget relies on from any SpeechBudget, run against the Postgres
 * adapter and the in-memory twin: counts per tenant and day, shared by every instance, a limit
 * that concurrent reservations never overshoot, and a rejection (never an answer) when the
 * store cannot be reached.
 */
export function describeSpeechBudgetContract(name: string, create: () => Promise<SpeechBudgetUnderTest>): void {
  describe(`SpeechBudget contract: ${name}`, () => {
    let first: SpeechBudget;
    let second: SpeechBudget;
    let unreachable: SpeechBudget;
    let tenant: string;
    beforeEach(async () => {
      ({ first, second, unreachable } = await create());
      tenant = randomUUID();
    });

    it('counts nothing for a tenant and day with no reservation', async () => {
      expect(await first.used(tenant, '2026-12-02')).toBe(0);
    });

    it('adds reservations up to the limit, and refuses one that would pass it without adding anything', async () => {
      expect(await first.reserve(tenant, '2026-12-02', 60, 100)).toBe(true);
      expect(await first.reserve(tenant, '2026-12-02', 40, 100)).toBe(true); // exactly the limit
      expect(await first.reserve(tenant, '2026-12-02', 1, 100)).toBe(false);
      expect(await first.used(tenant, '2026-12-02')).toBe(100);
    });

    it('refuses a single reservation larger than the limit, even on an empty day', async () => {
      expect(await first.reserve(tenant, '2026-12-02', 101, 100)).toBe(false);
      expect(await first.used(tenant, '2026-12-02')).toBe(0);
    });

    it('keeps days and tenants apart', async () => {
      const other = randomUUID();
      expect(await first.reserve(tenant, '2026-12-02', 100, 100)).toBe(true);
      expect(await first.reserve(tenant, '2026-12-03', 100, 100)).toBe(true);
      expect(await first.reserve(other, '2026-12-02', 100, 100)).toBe(true);
      expect([
        await first.used(tenant, '2026-12-02'),
        await first.used(tenant, '2026-12-03'),
        await first.used(other, '2026-12-02'),
      ]).toEqual([100, 100, 100]);
    });

    it('gives back released characters, never below zero', async () => {
      await first.reserve(tenant, '2026-12-02', 80, 100);
      await first.release(tenant, '2026-12-02', 30);
      expect(await first.used(tenant, '2026-12-02')).toBe(50);
      expect(await first.reserve(tenant, '2026-12-02', 50, 100)).toBe(true);
      await first.release(tenant, '2026-12-02', 500);
      expect(await first.used(tenant, '2026-12-02')).toBe(0);
      await first.release(randomUUID(), '2026-12-02', 10); // nothing reserved: nothing happens
    });

    it('rejects, never answers, when the store cannot be reached: the default key is then not spent', async () => {
      // An answer of true would let a synthesis go uncounted, and false would pass an outage off as a used-up day.
      await expect(unreachable.reserve(tenant, '2026-12-02', 10, 100)).rejects.toThrow();
      await expect(unreachable.used(tenant, '2026-12-02')).rejects.toThrow();
      await expect(unreachable.release(tenant, '2026-12-02', 10)).rejects.toThrow();
      expect(await first.used(tenant, '2026-12-02')).toBe(0);
    });

    it('shares one count between instances, and concurrent reservations never pass the limit', async () => {
      const attempts = Array.from({ length: 40 }, (_, i) =>
        (i % 2 === 0 ? first : second).reserve(tenant, '2026-12-02', 10, 105),
      );
      const granted = (await Promise.all(attempts)).filter(Boolean).length;
      expect(granted).toBe(10);
      expect(await second.used(tenant, '2026-12-02')).toBe(100);
      expect(await first.used(tenant, '2026-12-02')).toBe(100);
    });
  });
}
