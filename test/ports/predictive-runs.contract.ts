import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import type { PredictiveRun, PredictiveRuns } from '../../src/ports/predictive-runs.ts';
import { at, DAY, MINUTE, T0 } from '../support/time.ts';

export interface PredictiveRunsUnderTest {
  /** Two views of one store, as two instances on one database. */
  first: PredictiveRuns;
  second: PredictiveRuns;
}

/** The entries' lifetime, and how long an unfinished run is waited for before it is taken over. */
const TTL = 30 * DAY;
const STALE = 10 * MINUTE;

/**
 * What predictive prewarm relies on from any PredictiveRuns, run against the Postgres adapter (both database
 * shapes) and the in-memory twin: at most one run per tenant, language and line version within the ttl, shared
 * by every instance, and a run whose instance went away taken over once stale.
 */
export function describePredictiveRunsContract(name: string, create: () => Promise<PredictiveRunsUnderTest>): void {
  describe(`PredictiveRuns contract: ${name}`, () => {
    let first: PredictiveRuns;
    let second: PredictiveRuns;
    let run: PredictiveRun;
    beforeEach(async () => {
      ({ first, second } = await create());
      run = { tenantId: randomUUID(), language: 'es', lineVersion: 'v1' };
    });
    const claim = (when: Date, runs = first, which = run) => runs.claim(which, when, TTL, STALE);

    it('claims a run never started, then no more within the ttl, from any instance', async () => {
      expect(await claim(T0)).toBe(true);
      expect(await claim(T0)).toBe(false);
      expect(await claim(at(STALE - 1), second)).toBe(false); // unfinished, not stale yet
      await first.finish(run, at(MINUTE));
      expect(await claim(at(DAY), second)).toBe(false);
      expect(await claim(at(TTL - 1))).toBe(false);
    });

    it('claims it again once the ttl has passed since it started (finished or not)', async () => {
      expect(await claim(T0)).toBe(true);
      await first.finish(run, at(MINUTE));
      expect(await claim(at(TTL), second)).toBe(true);
      expect(await claim(at(TTL))).toBe(false);
      // That run never finished: past another ttl it is taken again all the same.
      expect(await claim(at(2 * TTL + 1))).toBe(true);
    });

    it('takes over a run that never finished once it is stale, and the takeover is a fresh run', async () => {
      expect(await claim(T0)).toBe(true); // its instance went away
      expect(await claim(at(STALE - 1), second)).toBe(false);
      expect(await claim(at(STALE), second)).toBe(true);
      expect(await claim(at(STALE + 1))).toBe(false);
      // The takeover, unfinished too, is itself taken over once stale.
      expect(await claim(at(2 * STALE))).toBe(true);
    });

    it('never takes over a finished run before the ttl, however long ago it started', async () => {
      expect(await claim(T0)).toBe(true);
      await first.finish(run, at(2 * MINUTE));
      await second.finish(run, at(3 * MINUTE)); // finishing twice changes nothing
      expect(await claim(at(STALE))).toBe(false);
      expect(await claim(at(20 * DAY), second)).toBe(false);
    });

    it('of 10 concurrent claims from two instances, exactly one wins', async () => {
      const claims = Array.from({ length: 10 }, (_, i) => claim(T0, i % 2 === 0 ? first : second));
      expect((await Promise.all(claims)).filter(Boolean)).toHaveLength(1);
      // Once stale, again exactly one of them.
      const retakes = Array.from({ length: 10 }, (_, i) => claim(at(STALE), i % 2 === 0 ? first : second));
      expect((await Promise.all(retakes)).filter(Boolean)).toHaveLength(1);
    });

    it('keeps tenants, languages and line versions apart', async () => {
      const other = { ...run, tenantId: randomUUID() };
      const english = { ...run, language: 'en' };
      const newLines = { ...run, lineVersion: 'v2' };
      expect(await claim(T0)).toBe(true);
      for (const each of [other, english, newLines]) expect(await claim(T0, first, each)).toBe(true);
      for (const each of [run, other, english, newLines]) expect(await claim(at(MINUTE), second, each)).toBe(false);

      await first.finish(english, at(MINUTE)); // finishes that one only
      expect(await claim(at(STALE))).toBe(true);
      expect(await claim(at(STALE), first, english)).toBe(false);
    });

    it('finishing a run never claimed does nothing, and does not stop its first claim', async () => {
      await first.finish(run, T0);
      expect(await claim(at(MINUTE))).toBe(true);
    });
  });
}
