import type { Logger } from '../logger.ts';
import type { AudioCacheIndex, HitBatch } from '../ports/audio-cache-index.ts';
import { describeError } from '../errors.ts';

const HOUR_MS = 3_600_000;

interface Counted {
  hits: number;
  lastAccessedAt: Date;
  /** Flushes that found no row for the key yet (its audio may still be being stored). */
  unmatched?: number;
}

/**
 * Hit accounting off the request path: plays are counted in memory per cache key and written
 * to the index in one statement every few seconds and when the app stops. Counts are exact:
 * a batch is taken out before it is written and put back if the write fails, so a hit is
 * neither lost nor counted twice by a flush, a failed flush or a shutdown. A key whose row
 * does not exist yet (a miss still being stored when it was played again) is kept for one
 * more flush; after that its row is gone for good (purged, cleaned up) and so are its hits.
 * Syntheses are counted the same way, per tenant and hour, for the usage figures (hit ratio).
 */
export class HitRecorder {
  #pending = new Map<string, Counted>();
  /** Syntheses by tenant and hour ("tenant|hour ISO"), for the usage figures. */
  #misses = new Map<string, number>();
  #flushing: Promise<void> = Promise.resolve();
  readonly #timer: NodeJS.Timeout;

  constructor(
    private readonly index: Pick<AudioCacheIndex, 'recordHits' | 'recordMisses'>,
    private readonly log: Logger,
    intervalMs: number,
  ) {
    this.#timer = setInterval(() => void this.flush(), intervalMs);
    this.#timer.unref(); // a pending flush never keeps a process alive; close() flushes
  }

  record(cacheKey: string, at: Date): void {
    this.#add(cacheKey, { hits: 1, lastAccessedAt: at });
  }

  /** A synthesis for this tenant (a miss, in the hit ratio). */
  recordMiss(tenantId: string, at: Date): void {
    const hour = new Date(Math.floor(at.getTime() / HOUR_MS) * HOUR_MS).toISOString();
    const key = `${tenantId}|${hour}`;
    this.#misses.set(key, (this.#misses.get(key) ?? 0) + 1);
  }

  /** Hits counted but not yet written. */
  get pendingHits(): number {
    let total = 0;
    for (const { hits } of this.#pending.values()) total += hits;
    return total;
  }

  /** Writes what was counted so far; flushes never overlap. Never throws. */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(() => this.#writePending());
    return this.#flushing;
  }

  /** Stops the timer and writes the last counts. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
  }

  async #writePending(): Promise<void> {
    await this.#writeMisses();
    if (this.#pending.size === 0) return;
    const batch = this.#pending;
    this.#pending = new Map();
    const hits: HitBatch = [...batch].map(([cacheKey, { hits, lastAccessedAt }]) => ({
      cacheKey,
      hits,
      lastAccessedAt,
    }));
    let unmatched: string[];
    try {
      unmatched = await this.index.recordHits(hits);
    } catch (error) {
      // Put the batch back under whatever was counted meanwhile: the next flush retries it.
      for (const [cacheKey, counted] of batch) this.#add(cacheKey, counted);
      this.log.warn(`audition cache: could not write ${hits.length} hit count(s), will retry: ${describeError(error)}`);
      return;
    }
    for (const cacheKey of unmatched) {
      const counted = batch.get(cacheKey)!;
      if ((counted.unmatched ?? 0) < 1) this.#add(cacheKey, { ...counted, unmatched: (counted.unmatched ?? 0) + 1 });
    }
  }

  async #writeMisses(): Promise<void> {
    if (this.#misses.size === 0) return;
    const batch = this.#misses;
    this.#misses = new Map();
    try {
      await this.index.recordMisses(
        [...batch].map(([key, misses]) => {
          const [tenantId, hour] = key.split('|') as [string, string];
          return { tenantId, hour: new Date(hour), misses };
        }),
      );
    } catch (error) {
      for (const [key, misses] of batch) this.#misses.set(key, (this.#misses.get(key) ?? 0) + misses);
      this.log.warn(`audition cache: could not write usage figures, will retry: ${describeError(error)}`);
    }
  }

  /** Adds to what is counted for the key (a play, or a batch put back). */
  #add(cacheKey: string, { hits, lastAccessedAt, unmatched }: Counted): void {
    const counted = this.#pending.get(cacheKey);
    if (counted) {
      counted.hits += hits;
      if (lastAccessedAt > counted.lastAccessedAt) counted.lastAccessedAt = lastAccessedAt;
      counted.unmatched = Math.max(counted.unmatched ?? 0, unmatched ?? 0);
    } else {
      this.#pending.set(cacheKey, { hits, lastAccessedAt, unmatched });
    }
  }
}
