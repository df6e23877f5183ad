import type { CacheStats } from '../stats/cache-stats.ts';

/** The bulk operations the cleanup needs from the cache's index. */
export interface CacheMaintenance {
  /**
   * Runs `work` holding the cluster-wide cleanup lock, or returns `{ ran: false }` at once if
   * another pass (another instance, a manual run) holds it.
   */
  withExclusiveLock<T>(work: () => Promise<T>): Promise<{ ran: true; value: T } | { ran: false }>;
  /** Deletes up to `limit` entries with `expires_at < now`; returns their blob paths. */
  deleteExpired(now: Date, limit: number): Promise<string[]>;
  /** Tenants holding more than `maxEntries` entries. */
  tenantsOverCap(maxEntries: number): Promise<{ tenantId: string; entries: number }[]>;
  /**
   * Deletes up to `limit` of the tenant's least recently accessed entries beyond its `keep`
   * most recent ones; returns their blob paths.
   */
  deleteLeastRecentlyUsed(tenantId: string, keep: number, limit: number): Promise<string[]>;
  /** Which of these cache keys have an entry. */
  findExistingKeys(cacheKeys: readonly string[]): Promise<Set<string>>;
  /**
   * Deletes up to `limit` of the tenant's entries (only those of `voiceId` when given);
   * returns their blob paths. A purge calls it until it returns fewer than `limit`.
   */
  deleteTenantEntries(tenantId: string, voiceId: string | undefined, limit: number): Promise<string[]>;
  /** Deletes hourly usage figures older than `before`; returns how many hours were removed. */
  deleteUsageBefore(before: Date): Promise<number>;
  /** The stats endpoint's figures for all tenants (aggregates only). */
  stats(now: Date): Promise<CacheStats>;
}
