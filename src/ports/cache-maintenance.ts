/**
 * The bulk operations the cleanup and purge need from the cache's index. Every deletion acts
 * only on entries this service wrote: audio_cache is shared with the Khipu Cloud API, whose
 * rows (every book's narration) are never this service's to delete.
 */
export interface CacheMaintenance {
  /**
   * Runs `work` holding the cluster-wide cleanup lock, or returns `{ ran: false }` at once if
   * another pass (another instance, a manual run) holds it.
   */
  withExclusiveLock<T>(work: () => Promise<T>): Promise<{ ran: true; value: T } | { ran: false }>;
  /** Deletes up to `limit` of our entries with `expires_at < now`; returns their blob paths. */
  deleteExpired(now: Date, limit: number): Promise<string[]>;
  /** Tenants holding more than `maxEntries` entries of ours (other writers' rows do not count). */
  tenantsOverCap(maxEntries: number): Promise<{ tenantId: string; entries: number }[]>;
  /**
   * Deletes up to `limit` of the tenant's least recently accessed entries beyond its `keep`
   * most recent ones; returns their blob paths.
   */
  deleteLeastRecentlyUsed(tenantId: string, keep: number, limit: number): Promise<string[]>;
  /**
   * The paths of these blobs that something refers to: a row of audio_cache (of any writer)
   * under the blob's key, or the Khipu Cloud API's segment metadata.
   */
  findReferencedBlobs(blobs: readonly { path: string; cacheKey: string }[]): Promise<Set<string>>;
  /**
   * Forgets the ownership notes whose row someone else deleted, among the cache keys from
   * `from` (inclusive) to `to` (exclusive; none: to the end); returns how many.
   */
  deleteUnusedOwnershipNotes(keys: { from: string; to?: string }): Promise<number>;
  /**
   * Deletes up to `limit` of the tenant's entries of ours (only those of `voiceId` when given);
   * returns their blob paths. A purge calls it until it returns fewer than `limit`. It also forgets
   * the tenant's predictive runs (PredictiveRuns), so that its next audition prewarms again.
   */
  deleteTenantEntries(tenantId: string, voiceId: string | undefined, limit: number): Promise<string[]>;
  /** Deletes hourly usage figures older than `before`; returns how many hours were removed. */
  deleteUsageBefore(before: Date): Promise<number>;
}
