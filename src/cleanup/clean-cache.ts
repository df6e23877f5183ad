import { HeldLease } from '../cache/held-lease.ts';
import type { Logger } from '../logger.ts';
import type { CacheMaintenance, EntrySelection } from '../ports/cache-maintenance.ts';
import type { CacheStats, UsageWindow } from '../ports/cache-stats.ts';
import type { DeleteManyResult } from '../ports/blob-store.ts';
import { LEASE_ROW_KEPT_MS } from '../ports/leases.ts';
import { CleanupPass, type CleanupDeps, type CleanupOptions } from './cleanup-pass.ts';
import { sweepOrphansFailOpen } from './orphan-sweep.ts';

export type { CleanupDeps, CleanupOptions } from './cleanup-pass.ts';
export { DEFAULTS } from './cleanup-pass.ts';
export { sweepHourOf } from './orphan-sweep.ts';

export interface CleanupReport {
  /** false when another pass held the lock. */
  ran: boolean;
  expired: number;
  evicted: number;
  orphans: number;
  blobs: DeleteManyResult;
  /**
   * Project accounts skipped in this pass (no credentials, or failing), each counted once per tenant whose key could
   * not reach it, and the entries of theirs left waiting.
   */
  unreachableStores: number;
  entriesWaiting: number;
  /** Entries in project accounts whose blob path is not under their tenant's folder: never sent, rows kept. */
  misplacedEntries: number;
  stats?: CacheStats;
  /** Time spent in database statements and in blob requests, in ms. */
  databaseMs: number;
  blobMs: number;
}

const USAGE_RETENTION_MS = 90 * 86_400_000;
/** The one lease every instance's and every manual run's pass takes. */
export const CLEANUP_LEASE = 'cleanup';
/** A pass renews its lease every third of this; one that stopped (a killed run) is taken over this long after. */
const CLEANUP_LEASE_TTL_MS = 60_000;

/**
 * The cleanup's use case: one pass, as the hourly timer and `npm run cleanup` run it:
 * expired entries, then each tenant's least recently used entries beyond the cap, then blobs
 * no entry refers to, then the stats. Rows go before their blobs: an interrupted pass leaves
 * at worst an unreferenced blob (swept by a later pass), never a row the audition function
 * would serve from a deleted blob. At most one pass runs at a time across all instances.
 */
export class CacheCleanup {
  readonly #deps: CleanupDeps;
  readonly #options: CleanupOptions;

  constructor(deps: CleanupDeps, options: CleanupOptions) {
    this.#deps = deps;
    this.#options = options;
  }

  /** One pass, its lines on `log`; `ran: false` when another pass holds the lease. */
  run(log: Logger): Promise<CleanupReport> {
    return cleanCache(new CleanupPass(this.#deps, this.#options, log));
  }
}

async function cleanCache(pass: CleanupPass): Promise<CleanupReport> {
  const { deps, options, log } = pass;
  const outcome = await withCleanupLease(deps, async () => {
    log.info('Running audio cache cleanup...');
    const now = options.now();
    await deps.leases.deleteExpired(LEASE_ROW_KEPT_MS);
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
  const waiting = {
    unreachableStores: pass.projects?.unreachable.length ?? 0,
    entriesWaiting: pass.projects?.kept ?? 0,
    misplacedEntries: pass.projects?.misplaced.length ?? 0,
  };
  return {
    ran: outcome.ran,
    ...counts,
    ...waiting,
    blobs: pass.blobs,
    databaseMs: pass.databaseMs,
    blobMs: pass.blobMs,
  };
}

/**
 * Runs `work` holding the cleanup's lease, or answers `{ ran: false }` at once when another pass holds it. Should the
 * lease be lost meanwhile (this pass froze past its expiry and another took over), this one goes on regardless: each
 * of its steps is one bounded statement or blob batch that is safe beside another pass's (rows before blobs, a row
 * deleted twice is deleted once), so the lease saves work, not data.
 */
async function withCleanupLease<T>(
  deps: CleanupDeps,
  work: () => Promise<T>,
): Promise<{ ran: true; value: T } | { ran: false }> {
  const lease = await HeldLease.take(deps.leases, CLEANUP_LEASE, CLEANUP_LEASE_TTL_MS);
  if (!lease) return { ran: false };
  try {
    return { ran: true, value: await work() };
  } finally {
    await lease.release();
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

/** Entries past their expiry (the operator's account: rows then blobs; project accounts: blobs then rows). */
async function deleteExpiredEntries(pass: CleanupPass, now: Date): Promise<number> {
  const expired = await deleteInBatches(pass, (maintenance) => maintenance.deleteExpired(now, pass.batchSize));
  return expired + (await inProjectStores(pass, { kind: 'expired', now }));
}

/** The selection's entries in projects' own accounts, blobs then rows; answers how many. */
function inProjectStores(pass: CleanupPass, selection: EntrySelection): Promise<number> {
  if (!pass.projects) return Promise.resolve(0);
  const deletes = pass.projects;
  return pass.database(() => deletes.deleteSelected(selection, pass.batchSize, (result) => pass.count(result)));
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
    evicted += await inProjectStores(pass, { kind: 'over-cap', tenantId, keep: cap });
  }
  return evicted;
}

/** Drops usage figures past retention, then reads and logs the stats (the endpoint's figures, for all tenants). */
async function readStats(pass: CleanupPass, now: Date): Promise<CacheStats> {
  // Hourly usage figures (the stats endpoint's windows) are kept for 90 days.
  await pass.database((maintenance) => maintenance.deleteUsageBefore(new Date(now.getTime() - USAGE_RETENTION_MS)));
  const stats = await pass.database(() =>
    pass.deps.stats.read({ now, pricePerMillionChars: pass.options.pricePerMillionChars }),
  );
  pass.log.info(
    `Cache stats: ${stats.entries} entries, ${stats.totalMb.toFixed(2)} MB, ${stats.totalHits} total hits, ` +
      `${stats.avgHitsPerEntry.toFixed(2)} avg hits/entry`,
  );
  // The same figures the stats endpoint gives a tenant, for all tenants (no text of any line).
  pass.log.info(describeUsage(stats));
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
    pass.log.info(`${PREDICTIVE_LINE_PREFIX}${JSON.stringify({ tenant: tenantId, ...figures })}`);
}

/** How each per-tenant predictive prewarm line starts (infra/monitoring/workbook.json parses the JSON after it). */
const PREDICTIVE_LINE_PREFIX = 'Predictive prewarm (last 7 d): ';

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
function describeUsage(stats: CacheStats): string {
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
