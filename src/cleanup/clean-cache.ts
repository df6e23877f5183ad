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

/**
 * One cleanup pass, as the hourly timer and `npm run cleanup` run it:
 * expired entries, then each tenant's least recently used entries beyond the cap, then blobs
 * no entry refers to, then the stats. Rows go before their blobs: an interrupted pass leaves
 * at worst an unreferenced blob (swept by a later pass), never a row the audition function
 * would serve from a deleted blob. At most one pass runs at a time across all instances.
 */
export async function cleanCache(
  deps: { maintenance: CacheMaintenance; blobStore: BlobStore; stats: CacheStatsReader; log: Logger },
  options: CleanupOptions,
): Promise<CleanupReport> {
  const { maintenance, blobStore, log } = deps;
  const batchSize = options.batchSize ?? DEFAULTS.batchSize;
  const report: CleanupReport = {
    ran: false,
    expired: 0,
    evicted: 0,
    orphans: 0,
    blobs: { deleted: 0, missing: 0, failed: 0 },
    databaseMs: 0,
    blobMs: 0,
  };
  const timed = async <T>(kind: 'databaseMs' | 'blobMs', work: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      return await work();
    } finally {
      report[kind] += performance.now() - started;
    }
  };
  const deleteBlobs = async (paths: string[]) => {
    const result = await timed('blobMs', () => blobStore.deleteMany(paths));
    report.blobs.deleted += result.deleted;
    report.blobs.missing += result.missing;
    report.blobs.failed += result.failed;
    report.blobs.firstError ??= result.firstError;
  };

  const outcome = await maintenance.withExclusiveLock(async () => {
    log.info('Running audio cache cleanup...');
    const now = options.now();

    // Forget the ownership notes of entries another writer deleted (the Khipu Cloud API's own
    // cleanup, a tenant's cascade): one 24th of them per pass, so each hourly pass costs the
    // same and every note is checked once a day. A note left for a while only makes the cap's
    // count high; the LRU step ranks actual rows, so it never deletes an entry too many.
    await timed('databaseMs', () => maintenance.deleteUnusedOwnershipNotes(noteSlice(now)));

    for (;;) {
      const paths = await timed('databaseMs', () => maintenance.deleteExpired(now, batchSize));
      report.expired += paths.length;
      await deleteBlobs(paths);
      if (paths.length < batchSize) break;
    }
    log.info(`Deleted ${report.expired} expired cache entries`);

    const tenants = await timed('databaseMs', () => maintenance.tenantsOverCap(options.maxEntriesPerTenant));
    for (const { tenantId } of tenants) {
      for (;;) {
        const paths = await timed('databaseMs', () => maintenance.deleteLeastRecentlyUsed(tenantId, options.maxEntriesPerTenant, batchSize));
        report.evicted += paths.length;
        await deleteBlobs(paths);
        if (paths.length < batchSize) break;
      }
    }
    log.info(`Deleted ${report.evicted} old cache entries via LRU`);

    try {
      report.orphans = await sweepOrphans(deps, options, now, timed);
      log.info(`Deleted ${report.orphans} orphaned cache blobs`);
    } catch (error) {
      // Listing blobs failed (storage unreachable): the sweep is only housekeeping, and the
      // stats below still matter.
      log.warn(`Orphaned blob sweep failed: ${describeError(error)}`);
    }
    if (report.blobs.failed > 0) {
      log.warn(`Could not delete ${report.blobs.failed} cache blobs (first error: ${report.blobs.firstError}); a later pass retries them`);
    }

    // Hourly usage figures (the stats endpoint's windows) are kept for 90 days.
    await timed('databaseMs', () => maintenance.deleteUsageBefore(new Date(now.getTime() - USAGE_RETENTION_MS)));
    const stats = await timed('databaseMs', () => deps.stats.read({ now, pricePerMillionChars: options.pricePerMillionChars }));
    report.stats = stats;
    log.info(
      `Cache stats: ${stats.entries} entries, ${stats.totalMb.toFixed(2)} MB, ${stats.totalHits} total hits, ${stats.avgHitsPerEntry.toFixed(2)} avg hits/entry`,
    );
    // The same figures the stats endpoint gives a tenant, for all tenants (no text of any line).
    log.info(describeUsage(stats));
  });

  if (!outcome.ran) {
    log.info('Audio cache cleanup skipped: another cleanup pass is running');
    return report;
  }
  report.ran = true;
  return report;

  /** Blobs under audio-cache/ that no entry refers to and that are past the grace period. */
  async function sweepOrphans({ maintenance: m, blobStore: store }: typeof deps, opts: CleanupOptions, now: Date, time: typeof timed): Promise<number> {
    const limit = opts.orphanLimit ?? DEFAULTS.orphanLimit;
    const cutoff = now.getTime() - (opts.orphanGraceMs ?? DEFAULTS.orphanGraceMs);
    let deleted = 0;
    let candidates: { path: string; cacheKey: string }[] = [];
    const flush = async () => {
      const referenced = await time('databaseMs', () => m.findReferencedBlobs(candidates));
      const orphans = candidates
        .filter((c) => !referenced.has(c.path))
        .map((c) => c.path)
        .slice(0, limit - deleted);
      candidates = [];
      if (orphans.length === 0) return;
      const before = report.blobs.deleted;
      await deleteBlobs(orphans);
      deleted += report.blobs.deleted - before;
    };
    const listing = store.list(AUDIO_BLOB_PREFIX)[Symbol.asyncIterator]();
    for (;;) {
      const next = await time('blobMs', () => listing.next());
      if (next.done) break;
      // Only blobs this service wrote: the container may be shared with the Khipu Cloud API.
      const cacheKey = parseAudioBlobPath(next.value.path)?.cacheKey;
      if (!cacheKey || !next.value.writtenHere || next.value.lastModified.getTime() > cutoff) continue;
      candidates.push({ path: next.value.path, cacheKey });
      if (candidates.length >= 1_000) await flush();
      if (deleted >= limit) break;
    }
    if (candidates.length > 0 && deleted < limit) await flush();
    await listing.return?.();
    return deleted;
  }
}

/** The slice of the hex key space whose ownership notes the pass at this UTC hour checks. */
export function noteSlice(now: Date): { from: string; to?: string } {
  const hour = now.getUTCHours();
  const hex = (n: number) => n.toString(16).padStart(2, '0');
  return { from: hex(Math.floor((256 * hour) / 24)), ...(hour < 23 ? { to: hex(Math.floor((256 * (hour + 1)) / 24)) } : {}) };
}

/** The all-tenant usage figures as one log line. */
export function describeUsage(stats: CacheStats): string {
  const ratio = (value: number | null) => (value === null ? 'n/a' : `${(value * 100).toFixed(1)}%`);
  const window = (name: string, w: UsageWindow) =>
    `${name}: ${w.entriesCreated} entries created, ${w.hits} hits, ${w.misses} syntheses, hit ratio ${ratio(w.hitRatio)}, ` +
    `${w.charactersSaved} characters ($${w.dollarsSaved.toFixed(2)}) saved`;
  const top = stats.topEntries.map((e) => `${e.voice} ${e.hits} hits ${(e.sizeBytes / 1024).toFixed(0)} KB`).join(', ');
  return (
    `Cache usage (all tenants): ${window('last 24 h', stats.last24h)}; ${window('last 7 d', stats.last7d)}; ` +
    `all cached entries: ${stats.savings.characters} characters ($${stats.savings.dollars.toFixed(2)} at $${stats.savings.pricePerMillionChars}/M) saved; ` +
    `most played: ${top || 'none'}`
  );
}
