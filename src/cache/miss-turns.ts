import { systemClock, type Clock } from '../clock.ts';
import type { WholeAudio } from '../domain/audition-audio.ts';
import { OutageLog } from '../outage-log.ts';
import type { MissLock, MissLocks } from '../ports/miss-locks.ts';
import type { AudioCache, CacheSlot } from './audio-cache.ts';

/**
 * Whose turn it is to fill a miss, across instances:
 * - `synthesize`: this instance synthesizes and stores it, then calls `release` (it holds the
 *   key's lock, or goes alone: no locks, a coordination failure, a wait that ran out);
 * - `stored`: another instance stored it meanwhile (a play, counted);
 * - `uncached`: the index failed while waiting; synthesize without storing.
 */
export type Turn =
  { kind: 'synthesize'; release: () => Promise<void> } | { kind: 'stored'; audio: WholeAudio } | { kind: 'uncached' };

export interface MissTurnsDeps {
  cache: Pick<AudioCache, 'lookUp'>;
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

const POLL_MS = 100;
const alone: Turn = { kind: 'synthesize', release: () => Promise.resolve() };

/**
 * One synthesis per key across instances: the instance that gets the key's lock, and still
 * holds it when it is about to synthesize, synthesizes (holding the lock until the audio is
 * stored); the others poll the index for its entry, for at most `maxWaitMs`. A failure to
 * coordinate (database trouble) or a wait that runs out falls back to synthesizing here:
 * the cache fails open, and a caller is never left hanging.
 */
export class MissTurns {
  readonly #deps: MissTurnsDeps;
  readonly #now: Clock;
  readonly #databaseOutage: OutageLog;

  constructor(deps: MissTurnsDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? systemClock;
    this.#databaseOutage = deps.databaseOutage ?? new OutageLog('the database');
  }

  async awaitTurn(slot: CacheSlot): Promise<Turn> {
    const { missLocks, cache } = this.#deps;
    if (!missLocks) return alone;
    const deadline = this.#now().getTime() + this.#deps.maxWaitMs;
    for (;;) {
      let lock: MissLock | undefined;
      try {
        lock = await missLocks.tryLock(slot.cacheKey);
      } catch (error) {
        this.#databaseOutage.failed(
          slot.log,
          'audition cache: could not coordinate the miss with other instances',
          error,
        );
        return alone;
      }
      if (lock) {
        const turn = await this.#holding(slot, lock);
        if (turn) return turn;
      }
      await new Promise((resolve) => setTimeout(resolve, this.#deps.pollMs ?? POLL_MS));
      const stored = await cache.lookUp(slot);
      if (stored.kind === 'hit') return { kind: 'stored', audio: stored.audio };
      if (stored.kind === 'bypass') return { kind: 'uncached' };
      if (this.#now().getTime() > deadline) {
        slot.log.warn(
          `audition cache: gave up waiting for another instance's synthesis of ${slot.cacheKey.slice(0, 12)}…`,
        );
        return alone;
      }
    }
  }

  /** With the key's lock: stored by the previous holder, or ours to fill; undefined when the lock was lost. */
  async #holding(slot: CacheSlot, lock: MissLock): Promise<Turn | undefined> {
    let turn: Turn | undefined;
    try {
      // The previous holder may have stored it between our lookup and our lock.
      const stored = await this.#deps.cache.lookUp(slot);
      // A synthesis is paid for: the lock is proven here, not believed. Its session may have
      // ended since it was granted (a restart, a failover) and another instance taken the key
      // meanwhile, and be synthesizing it.
      if (stored.kind === 'hit') turn = { kind: 'stored', audio: stored.audio };
      else if (await lock.stillHeld()) return { kind: 'synthesize', release: () => lock.release() };
    } catch (error) {
      await lock.release();
      throw error;
    }
    await lock.release();
    if (turn) return turn;
    slot.log.warn(
      `audition cache: lost the miss lock of ${slot.cacheKey.slice(0, 12)}… before synthesizing ` +
        "(its database session ended); waiting for the other instance's synthesis",
    );
    return undefined;
  }
}
