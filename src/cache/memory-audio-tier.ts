import { LRUCache } from 'lru-cache';
import { lruClock, systemClock, type Clock } from '../clock.ts';

/** Audio held in memory, with what a hit needs besides the bytes. */
export interface MemoryAudio {
  tenantId: string;
  audio: Buffer;
  durationSeconds: number | undefined;
  /** The index entry's own expiry: never served past it. */
  expiresAt: Date | null;
}

/** Per-entry bookkeeping of the LRU itself, counted against the byte budget. */
const ENTRY_OVERHEAD_BYTES = 256;
/** A cache key: sha256 in hex. */
const CACHE_KEY_CHARS = 64;

/**
 * The in-process tier of hot audio, in front of the index and Blob Storage: bounded by bytes
 * (least recently used out first), and by a short TTL, so an entry purged or expired
 * elsewhere stops being served by every instance within minutes.
 */
export class MemoryAudioTier {
  readonly #lru: LRUCache<string, MemoryAudio>;
  readonly #now: Clock;
  readonly #maxBytes: number;

  constructor(options: { maxBytes: number; ttlMs: number; now?: Clock }) {
    this.#now = options.now ?? systemClock;
    this.#maxBytes = options.maxBytes;
    this.#lru = new LRUCache<string, MemoryAudio>({
      ...lruClock(this.#now),
      maxSize: options.maxBytes,
      sizeCalculation: (value, key) => value.audio.length + key.length + ENTRY_OVERHEAD_BYTES,
      ttl: options.ttlMs,
      // Expired items are dropped when read; nothing needs a timer per entry.
      ttlAutopurge: false,
    });
  }

  get(cacheKey: string): MemoryAudio | undefined {
    const found = this.#lru.get(cacheKey);
    if (found?.expiresAt && found.expiresAt.getTime() <= this.#now().getTime()) {
      this.#lru.delete(cacheKey);
      return undefined;
    }
    return found;
  }

  /** Keeps the audio unless it is larger than the whole tier (then it is simply not kept). */
  set(cacheKey: string, value: MemoryAudio): void {
    this.#lru.set(cacheKey, value);
  }

  /** Whether audio of this many bytes (under a cache key) would be kept at all. */
  fits(audioBytes: number): boolean {
    return audioBytes + CACHE_KEY_CHARS + ENTRY_OVERHEAD_BYTES <= this.#maxBytes;
  }

  delete(cacheKey: string): void {
    this.#lru.delete(cacheKey);
  }

  /** Drops every entry of the tenant (a purge: this instance stops serving them at once). */
  deleteTenant(tenantId: string): number {
    const tenant = tenantId.toLowerCase();
    // Keys first, deletions after: the LRU is not changed while it is being walked.
    const keys = [...this.#lru.entries()]
      .filter(([, value]) => value.tenantId.toLowerCase() === tenant)
      .map(([key]) => key);
    for (const key of keys) this.#lru.delete(key);
    return keys.length;
  }

  get sizeBytes(): number {
    return this.#lru.calculatedSize;
  }

  get entries(): number {
    return this.#lru.size;
  }
}
