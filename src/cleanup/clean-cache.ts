import type { Clock } from '../clock.ts';
import { AUDIO_BLOB_PREFIX, parseAudioBlobPath } from '../domain/blob-layout.ts';
import { describeError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { BlobStore, DeleteManyResult } from '../ports/blob-store.ts';
import type { CacheMaintenance } from '../ports/cache-maintenance.ts';
import type { CacheStats, CacheStatsReader, UsageWindow } from '../ports/cache-stats.ts';

export interface CleanupOptions {
  maxEntriesPerTenant: number;
  now: Clock;
  /** For the savings in the stats line (TTS_PRICE_PER_MILLION_CHARS). */
  pricePerMillionChars: number;
  /** Rows per DELETE statement. */
  batchSize?: number;
  /** An unreferenced blob younger than this may belong to a miss that is storing its row. */
  orphanGraceMs?: number;
  /** Most orphaned blobs deleted per pass. */
  orphanLimit?: number;
}

export interface CleanupReport {
  /** false when another pass held the lock. */
  ran: boolean;
  expired: number;
  evicted: number;
  orphans: number;
  blobs: DeleteManyResult;
  stats?: CacheStats;
  /** Time spent in database statements and in blob requests, in ms. */
  databaseMs: number;
  blobMs: number;
}

export const DEFAULTS = { batchSize: 5_000, orphanGraceMs: 60 * 60_000, orphanLimit: 10_000 };
const USAGE_RETENTION_MS = 90 * 86_400_000;
/** Unreferenced-blob candidates checked against the index in one query. */
const ORPHAN_CHECK_BATCH = 1_000;

type CleanupDeps = { maintenance: CacheMaintenance; blobStore: BlobStore; stats: CacheStatsReader; log: Logger };

/**
 * One cleanup pass, as the hourly timer and `npm run cleanup` run it:
 * expired entries, then each tenant's least recently used entries beyond the cap, then blobs
 * no entry refers to, then the stats. Rows go before their blobs: an interrupted pass leaves
 * at worst an unreferenced blob (swept by a later pass), never a row the audition function
 * would serve from a deleted blob. At most one pass runs at a time across all instances.
 */
export async function cleanCache(deps: CleanupDeps, options: CleanupOptions): Promise<CleanupReport> {
  const { log } = deps;
  const pass = new CleanupPass(deps, options);
  const outcome = await deps.maintenance.withExclusiveLock(async () => {
    log.info('Running audio cache cleanup...');
    const now = options.now();
    await forgetUnusedOwnershipNotes(pass, now);
    const expired = await deleteExpiredEntries(pass, now);
    log.info(`Deleted ${expired} expired cache entries`);
    const evicted = await evictOverCap(pass);
    log.info(`Deleted ${evicted} old cache entries via LRU`);
    const orphans = await sweepOrphansFailOpen(pass, now);
    if (pass.blobs.failed > 0) {
      log.warn(
        `Could not delete ${pass.blobs.failed} cache blobs (first error: ${pass.blobs.firstError}); ` +
          'a later pass retries them',
      );
    }
    const stats = await readStats(pass, now);
    return { expired, evicted, orphans, stats };
  });
  if (!outcome.ran) log.info('Audio cache cleanup skipped: another cleanup pass is running');
  const counts = outcome.ran ? outcome.value : { expired: 0, evicted: 0, orphans: 0 };
  return { ran: outcome.ran, ...counts, blobs: pass.blobs, databaseMs: pass.databaseMs, blobMs: pass.blobMs };
}

/** What every step of one pass shares: its dependencies and settings, and the time and blob deletes it adds up. */
class CleanupPass {
  databaseMs = 0;
  blobMs = 0;
  readonly blobs: DeleteManyResult = { deleted: 0, missing: 0, failed: 0 };
  readonly batchSize: number;

  constructor(
    readonly deps: CleanupDeps,
    readonly options: CleanupOptions,
  ) {
    this.batchSize = options.batchSize ?? DEFAULTS.batchSize;
  }

  /** A database statement, its time counted. */
  database<T>(work: (maintenance: CacheMaintenance) => Promise<T>): Promise<T> {
    return this.#timed('databaseMs', () => work(this.deps.maintenance));
  }

  /** A blob request, its time counted. */
  blobRequest<T>(work: (store: BlobStore) => Promise<T>): Promise<T> {
    return this.#timed('blobMs', () => work(this.deps.blobStore));
  }

  /** Deletes these blobs, counted in the pass's totals; answers this call's result. */
  async deleteBlobs(paths: string[]): Promise<DeleteManyResult> {
    const result = await this.blobRequest((store) => store.deleteMany(paths));
    this.blobs.deleted += result.deleted;
    this.blobs.missing += result.missing;
    this.blobs.failed += result.failed;
    this.blobs.firstError ??= result.firstError;
    return result;
  }

  async #timed<T>(kind: 'databaseMs' | 'blobMs', work: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await work();
    } finally {
      this[kind] += performance.now() - started;
    }
  }
}

/**
 * Forgets the ownership notes of entries another writer deleted (the Khipu Cloud API's own
 * cleanup, a tenant's cascade): one 24th of them per pass, so each hourly pass costs the
 * same and every note is checked once a day. A note left for a while only makes the cap's
 * count high; the LRU step ranks actual rows, so it never deletes an entry too many.
 */
async function forgetUnusedOwnershipNotes(pass: CleanupPass, now: Date): Promise<void> {
  await pass.database((maintenance) => maintenance.deleteUnusedOwnershipNotes(noteSlice(now)));
}

/** Deletes `deleteBatch`'s rows, then their blobs, batch after batch until a short one; answers how many rows. */
async function deleteInBatches(
  pass: CleanupPass,
  deleteBatch: (maintenance: CacheMaintenance) => Promise<string[]>,
): Promise<number> {
  let deleted = 0;
  for (;;) {
    const paths = await pass.database(deleteBatch);
    deleted += paths.length;
    await pass.deleteBlobs(paths);
    if (paths.length < pass.batchSize) return deleted;
  }
}

/** Entries past their expiry, rows then blobs; answers how many. */
function deleteExpiredEntries(pass: CleanupPass, now: Date): Promise<number> {
  return deleteInBatches(pass, (maintenance) => maintenance.deleteExpired(now, pass.batchSize));
}

/** Each tenant's least recently used entries beyond the cap; answers how many. */
async function evictOverCap(pass: CleanupPass): Promise<number> {
  const cap = pass.options.maxEntriesPerTenant;
  const tenants = await pass.database((maintenance) => maintenance.tenantsOverCap(cap));
  let evicted = 0;
  for (const { tenantId } of tenants) {
    evicted += await deleteInBatches(pass, (maintenance) =>
      maintenance.deleteLeastRecentlyUsed(tenantId, cap, pass.batchSize),
    );
  }
  return evicted;
}

/**
 * The orphan sweep, which is only housekeeping: when listing blobs fails (storage unreachable)
 * it is logged and counts none, and the pass goes on to the stats, which still matter.
 */
async function sweepOrphansFailOpen(pass: CleanupPass, now: Date): Promise<number> {
  try {
    const orphans = await sweepOrphans(pass, now);
    pass.deps.log.info(`Deleted ${orphans} orphaned cache blobs`);
    return orphans;
  } catch (error) {
    pass.deps.log.warn(`Orphaned blob sweep failed: ${describeError(error)}`);
    return 0;
  }
}

/**
 * Blobs under audio-cache/ that no entry refers to and that are past the grace period; answers how many were
 * deleted.
 */
async function sweepOrphans(pass: CleanupPass, now: Date): Promise<number> {
  const limit = pass.options.orphanLimit ?? DEFAULTS.orphanLimit;
  const cutoff = now.getTime() - (pass.options.orphanGraceMs ?? DEFAULTS.orphanGraceMs);
  let deleted = 0;
  let candidates: OrphanCandidate[] = [];
  const listing = pass.deps.blobStore.list(AUDIO_BLOB_PREFIX)[Symbol.asyncIterator]();
  for (;;) {
    const next = await pass.blobRequest(() => listing.next());
    if (next.done) break;
    // Only blobs this service wrote: the container may be shared with the Khipu Cloud API.
    const cacheKey = parseAudioBlobPath(next.value.path)?.cacheKey;
    if (!cacheKey || !next.value.writtenHere || next.value.lastModified.getTime() > cutoff) continue;
    candidates.push({ path: next.value.path, cacheKey });
    if (candidates.length >= ORPHAN_CHECK_BATCH) {
      deleted += await deleteUnreferenced(pass, candidates, limit - deleted);
      candidates = [];
    }
    if (deleted >= limit) break;
  }
  if (candidates.length > 0 && deleted < limit) deleted += await deleteUnreferenced(pass, candidates, limit - deleted);
  await listing.return?.();
  return deleted;
}

type OrphanCandidate = { path: string; cacheKey: string };

/** Deletes up to `limit` of these blobs that no entry refers to; answers how many were deleted. */
async function deleteUnreferenced(pass: CleanupPass, candidates: OrphanCandidate[], limit: number): Promise<number> {
  const referenced = await pass.database((maintenance) => maintenance.findReferencedBlobs(candidates));
  const orphans = candidates
    .filter((c) => !referenced.has(c.path))
    .map((c) => c.path)
    .slice(0, limit);
  if (orphans.length === 0) return 0;
  return (await pass.deleteBlobs(orphans)).deleted;
}

/** Drops usage figures past retention, then reads and logs the stats (the endpoint's figures, for all tenants). */
async function readStats(pass: CleanupPass, now: Date): Promise<CacheStats> {
  // Hourly usage figures (the stats endpoint's windows) are kept for 90 days.
  await pass.database((maintenance) => maintenance.deleteUsageBefore(new Date(now.getTime() - USAGE_RETENTION_MS)));
  const stats = await pass.database(() =>
    pass.deps.stats.read({ now, pricePerMillionChars: pass.options.pricePerMillionChars }),
  );
  pass.deps.log.info(
    `Cache stats: ${stats.entries} entries, ${stats.totalMb.toFixed(2)} MB, ${stats.totalHits} total hits, ` +
      `${stats.avgHitsPerEntry.toFixed(2)} avg hits/entry`,
  );
  // The same figures the stats endpoint gives a tenant, for all tenants (no text of any line).
  pass.deps.log.info(describeUsage(stats));
  await logPredictiveByTenant(pass, now);
  return stats;
}

/** Tenants whose predictive prewarm spent or served most over 7 days, one line each (the workbook's table). */
const PREDICTIVE_TENANTS_LOGGED = 100;

/** One JSON line per tenant: what predictive prewarm spent for it over 7 days and the plays its entries served. */
async function logPredictiveByTenant(pass: CleanupPass, now: Date): Promise<void> {
  const tenants = await pass.database(() =>
    pass.deps.stats.predictiveByTenant({
      now,
      pricePerMillionChars: pass.options.pricePerMillionChars,
      limit: PREDICTIVE_TENANTS_LOGGED,
    }),
  );
  for (const { tenantId, ...figures } of tenants)
    pass.deps.log.info(`${PREDICTIVE_LINE_PREFIX}${JSON.stringify({ tenant: tenantId, ...figures })}`);
}

/** How each per-tenant predictive prewarm line starts (infra/monitoring/workbook.json parses the JSON after it). */
export const PREDICTIVE_LINE_PREFIX = 'Predictive prewarm (last 7 d): ';

/** The slice of the hex key space whose ownership notes the pass at this UTC hour checks. */
export function noteSlice(now: Date): { from: string; to?: string } {
  const hour = now.getUTCHours();
  const hex = (n: number) => n.toString(16).padStart(2, '0');
  return {
    from: hex(Math.floor((256 * hour) / 24)),
    ...(hour < 23 ? { to: hex(Math.floor((256 * (hour + 1)) / 24)) } : {}),
  };
}

/** The all-tenant usage figures as one log line. */
export function describeUsage(stats: CacheStats): string {
  const ratio = (value: number | null) => (value === null ? 'n/a' : `${(value * 100).toFixed(1)}%`);
  const window = (name: string, w: UsageWindow) =>
    `${name}: ${w.entriesCreated} entries created, ${w.hits} hits, ${w.misses} syntheses, ` +
    `hit ratio ${ratio(w.hitRatio)}, ` +
    `${w.charactersSaved} characters ($${w.dollarsSaved.toFixed(2)}) saved, ` +
    `predictive prewarm ${w.predictive.syntheses} syntheses, ${w.predictive.characters} characters ` +
    `($${w.predictive.dollars.toFixed(2)}), ${w.predictive.hits} hits served`;
  const top = stats.topEntries.map((e) => `${e.voice} ${e.hits} hits ${(e.sizeBytes / 1024).toFixed(0)} KB`).join(', ');
  return (
    `Cache usage (all tenants): ${window('last 24 h', stats.last24h)}; ${window('last 7 d', stats.last7d)}; ` +
    `all cached entries: ${stats.savings.characters} characters ` +
    `($${stats.savings.dollars.toFixed(2)} at $${stats.savings.pricePerMillionChars}/M) saved; ` +
    `most played: ${top || 'none'}`
  );
}
