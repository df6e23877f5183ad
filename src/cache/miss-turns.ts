import { systemClock, type Clock } from '../clock.ts';
import type { WholeAudio } from '../domain/audition-audio.ts';
import type { OutageLog } from '../outage-log.ts';
import type { Leases } from '../ports/leases.ts';
import type { AudioCache, CacheSlot } from './audio-cache.ts';
import { HeldLease } from './held-lease.ts';

/**
 * Whose turn it is to fill a miss, across instances:
 * - `synthesize`: this instance synthesizes and stores it, under `lease` (its writes fenced by it), then releases it;
 *   without one it goes alone (no leases, a coordination failure, a wait that ran out);
 * - `stored`: another instance stored it meanwhile (a play, counted);
 * - `uncached`: the index failed while waiting; synthesize without storing.
 */
export type Turn =
  { kind: 'synthesize'; lease: HeldLease | undefined } | { kind: 'stored'; audio: WholeAudio } | { kind: 'uncached' };

export interface MissTurnsDeps {
  cache: Pick<AudioCache, 'lookUp'>;
  /** Cross-instance coordination of misses; without it, each instance synthesizes alone. */
  leases?: Leases;
  /** A line's lease outlives a holder that stopped renewing it (froze, vanished) by at most this long. */
  leaseTtlMs: number;
  /** The longest a request waits for another instance's synthesis before doing its own. */
  maxWaitMs: number;
  now?: Clock;
  /**
   * The first pause of a waiting instance before it looks again;
   * each next one is twice as long, up to `maxPauseMs`.
   */
  firstPauseMs?: number;
  maxPauseMs?: number;
  /** Where leases that cannot be reached are logged, once per database outage. */
  databaseOutage: OutageLog;
}

const FIRST_PAUSE_MS = 50;
const MAX_PAUSE_MS = 1_000;
const alone: Turn = { kind: 'synthesize', lease: undefined };

/** The lease name of a line (a cache key is a sha256 hex digest). */
export function lineLeaseName(cacheKey: string): string {
  return `audition:${cacheKey}`;
}

/**
 * One synthesis per key across instances: the instance that takes the key's lease synthesizes, keeping the lease alive
 * until the audio is stored; the others look for its entry, pausing longer each time (50 ms doubling to 1 s, with
 * jitter), and take the lease over if its holder stops renewing it. A failure to coordinate (database trouble) or a
 * wait that runs out falls back to synthesizing here: the cache fails open, and a caller is never left hanging.
 */
export class MissTurns {
  readonly #deps: MissTurnsDeps;
  readonly #now: Clock;
  readonly #databaseOutage: OutageLog;

  constructor(deps: MissTurnsDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? systemClock;
    this.#databaseOutage = deps.databaseOutage;
  }

  async awaitTurn(slot: CacheSlot): Promise<Turn> {
    const { leases, cache } = this.#deps;
    if (!leases) return alone;
    const deadline = this.#now().getTime() + this.#deps.maxWaitMs;
    let pauseMs = this.#deps.firstPauseMs ?? FIRST_PAUSE_MS;
    for (;;) {
      let lease: HeldLease | undefined;
      try {
        lease = await HeldLease.take(leases, lineLeaseName(slot.cacheKey), this.#deps.leaseTtlMs);
      } catch (error) {
        this.#databaseOutage.failed(
          slot.log,
          'audition cache: could not coordinate the miss with other instances',
          error,
        );
        return alone;
      }
      if (lease) {
        if (lease.grant.generation > 1) {
          slot.log.warn(
            `audition cache: took over the lease of ${slot.cacheKey.slice(0, 12)}… ` +
              `(generation ${lease.grant.generation}): its holder stopped renewing it`,
          );
        }
        // The previous holder may have stored it between our lookup and our lease.
        const stored = await cache.lookUp(slot);
        if (stored.kind !== 'hit') return { kind: 'synthesize', lease };
        await lease.release();
        return { kind: 'stored', audio: stored.audio };
      }
      await pause(pauseMs);
      pauseMs = Math.min(pauseMs * 2, this.#deps.maxPauseMs ?? MAX_PAUSE_MS);
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
}

/** `ms`, give or take a quarter, so that waiters started together do not ask together. */
function pause(ms: number): Promise<void> {
  const jittered = ms * (0.75 + Math.random() * 0.5);
  return new Promise((resolve) => setTimeout(resolve, jittered));
}
