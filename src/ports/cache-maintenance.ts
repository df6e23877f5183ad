/**
 * The bulk operations the cleanup and purge need from the cache's index. Every deletion acts
 * only on entries this service wrote: audio_cache is shared with the Khipu Cloud API, whose
 * rows (every book's narration) are never this service's to delete.
 */
export interface CacheMaintenance {
  // The three deletes below act on entries in the operator's account only (no store id in their note); those in
  // project accounts go through ProjectStoreMaintenance.
  /** Deletes up to `limit` of our entries with `expires_at < now`; returns their blob paths. */
  deleteExpired(now: Date, limit: number): Promise<string[]>;
  /** Tenants holding more than `maxEntries` entries of ours (other writers' rows do not count). */
  tenantsOverCap(maxEntries: number): Promise<{ tenantId: string; entries: number }[]>;
  /**
   * Deletes up to `limit` of the tenant's least recently accessed entries beyond its `keep`
   * most recent ones (ranked over every store, the operator's and project accounts'); returns their blob paths.
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

/** Which of our entries a cleanup step, the cap or a purge acts on. */
export type EntrySelection =
  /** Past their expiry at `now`. */
  | { kind: 'expired'; now: Date }
  /** The tenant's least recently used beyond its `keep` most recent ones (ranked over every store). */
  | { kind: 'over-cap'; tenantId: string; keep: number }
  /** The tenant's (those of `voiceId` only, when given). */
  | { kind: 'tenant'; tenantId: string; voiceId?: string };

/** An entry of ours whose blob is in a project's own account. */
export interface ProjectStoreEntry {
  id: string;
  cacheKey: string;
  tenantId: string;
  /** The blob's path in the store (audio_cache.audio_blob_path). */
  path: string;
  storeId: string;
  /** The project whose credentials stored it (null: unknown). */
  projectId: string | null;
}

/** A project account the service wrote to (the registry `audio_cache_blob_stores`), for one tenant. */
export interface RegisteredStore {
  tenantId: string;
  storeId: string;
  /** The project that stored there last. */
  projectId: string;
  /** Our entries whose blob is there now. */
  entries: number;
}

/** One tenant's entries in one project account: what is reached with one key (a project of that tenant's). */
export interface TenantStore {
  tenantId: string;
  storeId: string;
}

/**
 * What the selections of one pass (or purge) leave out: two tenants may name the same account, each with its own key,
 * so an account is skipped for a tenant, never for every tenant in it.
 */
export interface ProjectStoreSkip {
  /** The tenants' entries in these accounts (unreachable with that tenant's key in this pass). */
  stores: readonly TenantStore[];
  /** These entries, by id (set aside in this pass: their blob path is not under their tenant's folder). */
  entries: readonly string[];
}

/**
 * The cleanup's view of project accounts. Their blobs go before their rows (a row is the only record of a blob in an
 * account that may be unreachable now), so selecting and deleting are two calls; the operator's account keeps the
 * one-statement deletes of CacheMaintenance (rows first, its orphan sweep behind them).
 */
export interface ProjectStoreMaintenance {
  /**
   * Up to `limit` of our entries in project accounts that `selection` picks, none that `skip` leaves out (an entry's
   * tenant and account together, or its id), oldest first; nothing is deleted. For `over-cap`, ranked over all the
   * tenant's entries of every store (the operator's too), so a skipped store's entries still count as kept.
   */
  selectInProjectStores(selection: EntrySelection, limit: number, skip: ProjectStoreSkip): Promise<ProjectStoreEntry[]>;
  /** Deletes these entries' rows and ownership notes (ours only, by id); answers how many rows went. */
  deleteEntries(ids: readonly string[]): Promise<number>;
  /** Every registered project store, by tenant and store id. */
  registeredStores(): Promise<RegisteredStore[]>;
  /** Forgets a registered store if no entry of ours is in it any more; answers whether it did. */
  forgetStoreIfEmpty(tenantId: string, storeId: string): Promise<boolean>;
}
