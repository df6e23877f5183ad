import type { LeaseGrant } from './leases.ts';

/** The cache's index (the `audio_cache` table), as the audition service needs it. */
export interface AudioCacheIndex {
  /** The entry stored under this key, whatever its age; null when there is none. */
  find(cacheKey: string): Promise<CacheEntry | null>;
  /**
   * Plays counted since the last call: per key, hit_count + hits (atomically) and
   * last_accessed_at = the latest play (never moved back). Resolves with the keys that had
   * no row (not stored yet, or removed). In the same statement the plays are added to their
   * tenant's hourly usage (hits, characters saved).
   */
  recordHits(batch: HitBatch): Promise<string[]>;
  /** Syntheses counted since the last call, added to each tenant's hourly usage. */
  recordMisses(batch: MissBatch): Promise<void>;
  /**
   * Stores a new entry; false when one with its key exists already (another request won). With a `fence`, only while
   * that lease is still the writer's, checked in the same transaction as the write: else nothing is written and it
   * throws LeaseLostError.
   */
  insert(entry: NewCacheEntry, fence?: LeaseGrant): Promise<boolean>;
  /** Overwrites the entry stored under `entry.cacheKey` (healing an expired or broken one); fenced as `insert`. */
  replace(entry: NewCacheEntry, fence?: LeaseGrant): Promise<void>;
}

export interface CacheEntry {
  id: string;
  tenantId: string;
  cacheKey: string;
  audioBlobPath: string;
  audioDurationSeconds: number | null;
  expiresAt: Date | null;
  /**
   * Where the blob lives, from our ownership note: a project account's store id (ProjectStorage.storeId), or null for
   * the operator's account (and for rows this service did not write).
   */
  storeId: string | null;
}

export interface NewCacheEntry {
  tenantId: string;
  cacheKey: string;
  text: string;
  ssml: string;
  voiceId: string;
  voiceSettings: Record<string, string | number>;
  audioBlobPath: string;
  audioUrl: string;
  audioDurationSeconds: number | null;
  audioFileSizeBytes: number;
  createdAt: Date;
  expiresAt: Date;
  /**
   * Stored by a predictive prewarm: its synthesis is counted as the tenant's predictive spend (hourly usage:
   * predictive syntheses and characters), and its later plays as predictive hits.
   */
  predictive?: boolean;
  /**
   * Stored in a project's own account (absent: the operator's): recorded in the ownership note, and the store
   * registered for the cleanup (AudioCacheIndex implementations upsert `audio_cache_blob_stores` in the same
   * statement).
   */
  store?: { storeId: string; projectId: string };
}

export type HitBatch = { cacheKey: string; hits: number; lastAccessedAt: Date }[];

/** Syntheses per tenant and hour (the hour's start, UTC). */
export type MissBatch = { tenantId: string; hour: Date; misses: number }[];
