/** The cache's index (the `audio_cache` table), as the audition service needs it. */
export interface AudioCacheIndex {
  /** The entry stored under this key, whatever its age; null when there is none. */
  find(cacheKey: string): Promise<CacheEntry | null>;
  /** One more play: hit_count + 1 (atomically) and last_accessed_at = at. */
  recordHit(id: string, at: Date): Promise<void>;
  /** Stores a new entry; false when one with its key exists already (another request won). */
  insert(entry: NewCacheEntry): Promise<boolean>;
  /** Overwrites the entry stored under `entry.cacheKey` (healing an expired or broken one). */
  replace(entry: NewCacheEntry): Promise<void>;
}

export interface CacheEntry {
  id: string;
  tenantId: string;
  cacheKey: string;
  audioBlobPath: string;
  audioDurationSeconds: number | null;
  expiresAt: Date | null;
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
}
