import { systemClock, type Clock } from '../clock.ts';
import { OutageLog } from '../outage-log.ts';
import type { MissLock, MissLocks } from '../ports/miss-locks.ts';
import type { AudioCache, AuditionAudio, CacheSlot, WholeAudio } from './audio-cache.ts';

/** A miss being filled, seen from the request that started it and from those that join it. */
export interface Fill {
  /** The starter's answer: a stream as soon as the engine's first audio arrives, or whole. */
  first: AuditionAudio;
  /** The whole audio once it is stored (or found uncacheable): what the others get. */
  whole: Promise<WholeAudio>;
}

/** How a miss gets its audio, as the audition use case provides it. */
export interface MissSource {
  /** Synthesizes and stores it; tells `onSynthesized` as soon as the audio exists. */
  synthesizeAndStore(onSynthesized: (audio: WholeAudio) => void): Promise<Fill>;
  /** Synthesizes it without storing it (the cache is failing). */
  synthesizeUncached(): Promise<WholeAudio>;
}

export interface MissFillerDeps {
  cache: Pick<AudioCache, 'lookUp' | 'recordPlay'>;
  /** Cross-instance coordination of misses; without it, each instance synthesizes alone. */
  missLocks?: MissLocks;
  /** The longest a request waits for another instance's synthesis before doing its own. */
  maxWaitMs: number;
  now?: Clock;
  /** How often a waiting instance looks for the other's entry. */
  pollMs?: number;
  /** Where locks that cannot be reached are logged, once per database outage. */
  databaseOutage?: OutageLog;
}

/** A miss being filled in this instance, as identical requests find it. */
interface PendingFill {
  /** The whole audio once stored. */
  whole: Promise<WholeAudio>;
  /** Set as soon as it is synthesized. */
  synthesized?: WholeAudio;
}

const POLL_MS = 100;

export function wholeFill(audio: WholeAudio): Fill {
  return { first: audio, whole: Promise.resolve(audio) };
}

/**
 * One synthesis per miss: identical requests in this instance join the one being filled
 * (served from it as soon as it is synthesized), and across instances the holder of the key's
 * lock synthesizes while the others wait for its entry.
 */
export class MissFiller {
  readonly #deps: MissFillerDeps;
  readonly #databaseOutage: OutageLog;
  readonly #now: Clock;
  /** Misses being filled in this instance, by cache key. */
  readonly #pending = new Map<string, PendingFill>();

  constructor(deps: MissFillerDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? systemClock;
    this.#databaseOutage = deps.databaseOutage ?? new OutageLog('the database');
  }

  /**
   * Joins an identical miss being filled here, if there is one: once its audio is synthesized
   * (it may still be being stored) it is served from this instance, as a hit; before that,
   * the request waits for it.
   */
  join(slot: CacheSlot): Promise<AuditionAudio> | undefined {
    const pending = this.#pending.get(slot.cacheKey);
    if (!pending) return undefined;
    if (pending.synthesized) {
      slot.timings.tier = 'memory';
      this.#deps.cache.recordPlay(slot.cacheKey);
      return Promise.resolve({ ...pending.synthesized, status: 'HIT-L2' });
    }
    slot.timings.tier = 'synthesis';
    return pending.whole;
  }

  /** The stored result of an identical miss being filled here, if there is one. */
  pendingResult(cacheKey: string): Promise<WholeAudio> | undefined {
    return this.#pending.get(cacheKey)?.whole;
  }

  /** Starts filling a miss, registered so identical requests here join it. */
  fill(slot: CacheSlot, source: MissSource): Promise<Fill> {
    const entry: PendingFill = { whole: undefined as unknown as Promise<WholeAudio> };
    const fill = this.#coordinate(
      slot,
      () => source.synthesizeAndStore((audio) => (entry.synthesized = audio)),
      () => source.synthesizeUncached(),
    );
    entry.whole = fill.then((f) => f.whole);
    this.#pending.set(slot.cacheKey, entry);
    const forget = () => this.#pending.delete(slot.cacheKey);
    void entry.whole.then(forget, forget);
    return fill;
  }

  /** Waits until every miss being filled here is stored (before the app stops). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.#pending.values()].map((pending) => pending.whole));
  }

  /**
   * One synthesis per key across instances: the instance that gets the key's lock, and still
   * holds it when it is about to synthesize, synthesizes (holding the lock until the audio is
   * stored); the others poll the index for its entry, for at most `maxWaitMs`. A failure to
   * coordinate (database trouble) or a wait that runs out falls back to synthesizing here:
   * the cache fails open, and a caller is never left hanging.
   */
  async #coordinate(slot: CacheSlot, synthesizeAndStore: () => Promise<Fill>, synthesizeUncached: () => Promise<WholeAudio>): Promise<Fill> {
    const { missLocks, cache } = this.#deps;
    if (!missLocks) return synthesizeAndStore();
    const deadline = this.#now().getTime() + this.#deps.maxWaitMs;
    for (;;) {
      let lock: MissLock | undefined;
      try {
        lock = await missLocks.tryLock(slot.cacheKey);
      } catch (error) {
        this.#databaseOutage.failed(slot.log, 'audition cache: could not coordinate the miss with other instances', error);
        return synthesizeAndStore();
      }
      if (lock) {
        const held = lock;
        let fill: Fill | undefined;
        try {
          // The previous holder may have stored it between our lookup and our lock.
          const stored = await cache.lookUp(slot);
          // A synthesis is paid for: the lock is proven here, not believed. Its session may
          // have ended since it was granted (a restart, a failover) and another instance taken
          // the key meanwhile, and be synthesizing it.
          if (stored.kind === 'hit') fill = wholeFill(stored.audio);
          else if (await held.stillHeld()) fill = await synthesizeAndStore();
        } catch (error) {
          await held.release();
          throw error;
        }
        if (fill) {
          void fill.whole.catch(() => {}).finally(() => held.release());
          return fill;
        }
        await held.release();
        slot.log.warn(
          `audition cache: lost the miss lock of ${slot.cacheKey.slice(0, 12)}… before synthesizing (its database session ended); waiting for the other instance's synthesis`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, this.#deps.pollMs ?? POLL_MS));
      const stored = await cache.lookUp(slot);
      if (stored.kind === 'hit') return wholeFill(stored.audio);
      if (stored.kind === 'bypass') return wholeFill(await synthesizeUncached());
      if (this.#now().getTime() > deadline) {
        slot.log.warn(`audition cache: gave up waiting for another instance's synthesis of ${slot.cacheKey.slice(0, 12)}…`);
        return synthesizeAndStore();
      }
    }
  }
}
