/** Plays and syntheses in a recent window (from the hourly usage table). */
export interface UsageWindow {
  /** Entries stored in the window that are still cached. */
  entriesCreated: number;
  /** Plays served from the cache (memory or Blob Storage). */
  hits: number;
  /** Syntheses (auditions and prewarms that were not cached). */
  misses: number;
  /** hits ÷ (hits + misses); null when there was neither. */
  hitRatio: number | null;
  /** Characters of the lines played from the cache instead of synthesized. */
  charactersSaved: number;
  dollarsSaved: number;
  /** What predictive prewarm spent in the window, and the plays its entries served in it. */
  predictive: PredictiveUsage;
}

/** Predictive prewarm's cost and return, so an operator can see whether it pays. */
export interface PredictiveUsage {
  /** Default lines synthesized and stored by predictive prewarm. */
  syntheses: number;
  /** Their characters (what was paid for). */
  characters: number;
  /** `characters` priced at `pricePerMillionChars`. */
  dollars: number;
  /** Plays served by entries predictive prewarm stored. */
  hits: number;
}

export interface TopEntry {
  voice: string;
  /** The first 40 characters of the line. */
  text: string;
  hits: number;
  sizeBytes: number;
}

export interface CacheStats {
  entries: number;
  totalMb: number;
  totalHits: number;
  avgHitsPerEntry: number;
  last24h: UsageWindow;
  last7d: UsageWindow;
  /** Over the last 7 days (hits and syntheses are counted per hour, not kept forever). */
  hitRatio: number | null;
  /** The 10 most played entries. */
  topEntries: TopEntry[];
  /** Every play of the cached entries so far, priced at `pricePerMillionChars`. */
  savings: { characters: number; dollars: number; pricePerMillionChars: number };
  /**
   * Our entries per project storage account (the operator's account is not listed),
   * most entries first, at most 100.
   */
  projectStores: StoreUsage[];
}

/** Our entries in one project's own storage account. */
export interface StoreUsage {
  tenantId: string;
  /** ProjectStorage.storeId: `{serviceUrl}/{containerName}` (no secret). */
  storeId: string;
  /** The project that stored there last (the registry's). */
  projectId: string;
  entries: number;
  sizeBytes: number;
}

/**
 * The cache's figures (this service's entries only), for one tenant or for all: the stats
 * endpoint's answer and the cleanup's log lines.
 */
export interface CacheStatsReader {
  read(query: CacheStatsQuery): Promise<CacheStats>;
  /**
   * Each tenant's predictive prewarm over the last 7 days (tenants with any predictive synthesis or hit in it), most
   * characters first, at most `limit`: the hourly cleanup's per-tenant log lines (the workbook's figures).
   */
  predictiveByTenant(query: PredictiveQuery): Promise<TenantPredictiveUsage[]>;
}

export interface CacheStatsQuery {
  /** One tenant's figures; absent: all tenants'. */
  tenantId?: string;
  now: Date;
  pricePerMillionChars: number;
}

export interface PredictiveQuery {
  now: Date;
  pricePerMillionChars: number;
  limit: number;
}

export type TenantPredictiveUsage = PredictiveUsage & { tenantId: string };
